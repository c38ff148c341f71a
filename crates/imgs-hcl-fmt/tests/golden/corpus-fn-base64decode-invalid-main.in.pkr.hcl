locals {
  a = base64decode("!!!")
}
source "null" "a" {
  communicator = "none"
}
build {
  sources = ["source.null.a"]
}
