locals {
  a = rsadecrypt("eA==", "not a key")
}
source "null" "a" {
  communicator = "none"
}
build {
  sources = ["source.null.a"]
}
