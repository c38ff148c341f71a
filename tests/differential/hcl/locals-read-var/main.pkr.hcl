variable "v" {
  default = "x"
}
locals {
  l = upper(var.v)
}
source "null" "a" {
  communicator = "none"
}
build {
  sources = ["source.null.a"]
}
