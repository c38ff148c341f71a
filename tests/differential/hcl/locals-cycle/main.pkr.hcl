locals {
  a = local.b
  b = local.a
}
source "null" "a" {
  communicator = "none"
}
build {
  sources = ["source.null.a"]
}
