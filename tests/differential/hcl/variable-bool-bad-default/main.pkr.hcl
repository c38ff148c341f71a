variable "b" {
  type = bool
  default = "perhaps"
}
source "null" "a" {
  communicator = "none"
}
build {
  sources = ["source.null.a"]
}
