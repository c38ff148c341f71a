variable "l" {
  type = list(string)
  default = ["a", "b"]
}
source "file" "a" {
  content = var.l[1]
  target = "o.txt"
}
build {
  sources = ["source.file.a"]
}
