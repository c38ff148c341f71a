locals {
  a = cidrhost("10.0.0.0/24", 5)
  b = cidrnetmask("10.0.0.0/16")
  c = cidrsubnet("10.0.0.0/16", 8, 2)
  d = cidrsubnets("10.0.0.0/16", 4, 4)
}
source "null" "a" {
  communicator = "none"
}
build {
  sources = ["source.null.a"]
}
