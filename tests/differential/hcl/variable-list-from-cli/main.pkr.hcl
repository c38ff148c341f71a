variable "l" {
  type = list(string)
}
source "file" "a" {
  content = var.l[0]
  target = "o.txt"
}
build {
  sources = ["source.file.a"]
}
