locals {
  a = "x"
  b = "${local.a}-y"
}
locals {
  c = "${local.b}-z"
}
source "file" "a" {
  content = local.c
  target = "o.txt"
}
build {
  sources = ["source.file.a"]
}
