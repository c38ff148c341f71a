locals {
  a = parseint("z", 10)
}
source "null" "a" {
  communicator = "none"
}
build {
  sources = ["source.null.a"]
}
