packer {
  required_version = "banana"
}
source "null" "a" {
  communicator = "none"
}
build {
  sources = ["source.null.a"]
}
