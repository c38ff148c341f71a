locals {
  a = index(["a", "b"], "b")
}
source "null" "a" {
  communicator = "none"
}
build {
  sources = ["source.null.a"]
}
