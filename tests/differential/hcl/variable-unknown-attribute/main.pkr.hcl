variable "x" {
  default = 1
  color = "red"
}
source "null" "a" {
  communicator = "none"
}
build {
  sources = ["source.null.a"]
}
