variable "x" {
  default = "a"
}
variable "y" {
  default = var.x
}
source "null" "a" {
  communicator = "none"
}
build {
  sources = ["source.null.a"]
}
