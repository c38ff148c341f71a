packer {
  required_version = ">= 1.5.0"
}
source "null" "a" {
  communicator = "none"
}
build {
  sources = ["source.null.a"]
}
