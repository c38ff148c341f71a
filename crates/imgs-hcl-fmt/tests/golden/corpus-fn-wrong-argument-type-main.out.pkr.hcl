locals {
  a = upper(["a"])
}
source "null" "a" {
  communicator = "none"
}
build {
  sources = ["source.null.a"]
}
