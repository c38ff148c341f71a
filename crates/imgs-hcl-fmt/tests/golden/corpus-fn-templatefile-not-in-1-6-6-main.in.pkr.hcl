locals {
  a = templatefile("files/app.conf", {})
}
source "null" "a" {
  communicator = "none"
}
build {
  sources = ["source.null.a"]
}
