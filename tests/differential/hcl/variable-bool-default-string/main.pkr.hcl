variable "b" {
  type = bool
  default = "true"
}
source "null" "a" {
  communicator = "none"
}
build {
  sources = ["source.null.a"]
}
