variable "x" {
  description = "a secret"
  sensitive = true
  default = "s3cr3t-value"
}
source "null" "a" {
  communicator = "none"
}
build {
  sources = ["source.null.a"]
}
