variable "prod" {
  default = false
}
source "file" "a" {
  content = var.prod ? "prod" : "dev"
  target  = "o.txt"
}
build {
  sources = ["source.file.a"]
}
