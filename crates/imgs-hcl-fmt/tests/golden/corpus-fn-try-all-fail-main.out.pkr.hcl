locals {
  a = try(local.nope, local.other)
}
source "null" "a" {
  communicator = "none"
}
build {
  sources = ["source.null.a"]
}
