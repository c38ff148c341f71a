locals {
  names = [for n in ["a", "b"] : "${n}-x"]
}
source "file" "a" {
  content = join(",", local.names)
  target  = "o.txt"
}
build {
  sources = ["source.file.a"]
}
