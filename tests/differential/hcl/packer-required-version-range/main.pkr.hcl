packer {
  required_version = ">= 1.6.0, < 2.0.0"
}
source "null" "a" {
  communicator = "none"
}
build {
  sources = ["source.null.a"]
}
