variable "o" {
  type = object({ name = string, size = number })
  default = { name = "x" }
}
source "null" "a" {
  communicator = "none"
}
build {
  sources = ["source.null.a"]
}
