locals {
  a = formatdate("YYYY", "not a time")
}
source "null" "a" {
  communicator = "none"
}
build {
  sources = ["source.null.a"]
}
