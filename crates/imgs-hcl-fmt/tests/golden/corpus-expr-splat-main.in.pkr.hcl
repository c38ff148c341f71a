locals {
  objs = [{ n = "a" }, { n = "b" }]
  names = local.objs[*].n
}
source "null" "a" {
  communicator = "none"
}
build {
  sources = ["source.null.a"]
}
