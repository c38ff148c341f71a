variable "o" {
  type = object({ name = string, size = number })
  default = { name = "x", size = 2 }
}
source "file" "a" {
  content = var.o.name
  target = "o.txt"
}
build {
  sources = ["source.file.a"]
}
