variable "greeting" {
  type = string
}
source "file" "a" {
  content = var.greeting
  target  = "out.txt"
}
build {
  sources = ["source.file.a"]
}
