locals {
  n  = (1 + 2) * 3 % 4 - -1
  ok = 3 > 2 && ! false || true
}
source "null" "a" {
  communicator = "none"
}
build {
  sources = ["source.null.a"]
}
