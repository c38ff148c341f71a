locals {
  a = 1
}
locals {
  a = 2
}
source "null" "a" {
  communicator = "none"
}
build {
  sources = ["source.null.a"]
}
