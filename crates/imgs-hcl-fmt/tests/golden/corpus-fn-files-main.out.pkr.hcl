locals {
  a = file("../../files/app.conf")
  b = fileexists("../../files/app.conf")
  c = fileset("../../scripts", "*.sh")
  d = abspath("files")
  e = pathexpand("~/x")
}
source "null" "a" {
  communicator = "none"
}
build {
  sources = ["source.null.a"]
}
