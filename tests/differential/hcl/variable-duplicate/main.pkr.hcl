variable "x" {
  default = 1
}
variable "x" {
  default = 2
}
source "null" "a" {
  communicator = "none"
}
build {
  sources = ["source.null.a"]
}
