locals {
  a = try(local.nope, "fallback")
  b = can(local.nope)
  c = convert("5", number)
  d = convert(["a"], list(string))
}
source "null" "a" {
  communicator = "none"
}
build {
  sources = ["source.null.a"]
}
