locals {
  m = { for k, v in { a = 1, b = 2 } : k => v * 2 }
}
source "null" "a" {
  communicator = "none"
}
build {
  sources = ["source.null.a"]
}
