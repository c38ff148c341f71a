variable "m" {
  type = map(string)
  default = { a = "x" }
}
source "file" "a" {
  content = var.m["a"]
  target = "o.txt"
}
build {
  sources = ["source.file.a"]
}
