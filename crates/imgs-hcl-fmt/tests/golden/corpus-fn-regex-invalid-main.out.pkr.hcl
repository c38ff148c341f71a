locals {
  a = regex_replace("a", "(", "")
}
source "null" "a" {
  communicator = "none"
}
build {
  sources = ["source.null.a"]
}
