variable "n" {
  type = number
}
source "file" "a" {
  content = "${var.n}"
  target = "o.txt"
}
build {
  sources = ["source.file.a"]
}
