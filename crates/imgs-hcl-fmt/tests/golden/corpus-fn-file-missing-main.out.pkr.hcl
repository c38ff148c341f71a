locals {
  a = file("files/nope.conf")
}
source "null" "a" {
  communicator = "none"
}
build {
  sources = ["source.null.a"]
}
