locals {
  a = element(["a", "b"], -1)
}
source "null" "a" {
  communicator = "none"
}
build {
  sources = ["source.null.a"]
}
