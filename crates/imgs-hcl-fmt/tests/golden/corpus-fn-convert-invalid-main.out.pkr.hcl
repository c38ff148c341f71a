locals {
  a = convert("x", number)
}
source "null" "a" {
  communicator = "none"
}
build {
  sources = ["source.null.a"]
}
