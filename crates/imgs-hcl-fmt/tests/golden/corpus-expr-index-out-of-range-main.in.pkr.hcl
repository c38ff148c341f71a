locals {
  l = ["a"]
  x = local.l[3]
}
source "null" "a" {
  communicator = "none"
}
build {
  sources = ["source.null.a"]
}
