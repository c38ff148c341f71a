variable "x" {
  description = "a secret"
  sensitive = true
  default = "s"
}
source "null" "a" {
  communicator = "none"
}
build {
  sources = ["source.null.a"]
}
