locals {
  a = cidrsubnet("10.0.0.0/30", 8, 1)
}
source "null" "a" {
  communicator = "none"
}
build {
  sources = ["source.null.a"]
}
