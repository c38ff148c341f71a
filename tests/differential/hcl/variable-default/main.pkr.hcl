variable "greeting" {
  type = string
  default = "hi"
}
source "file" "a" {
  content = var.greeting
  target  = "out.txt"
}
build {
  sources = ["source.file.a"]
}
