packer {
  required_version = ">= 1.7.0"
}
source "null" "a" {
  communicator = "none"
}
build {
  sources = ["source.null.a"]
}
