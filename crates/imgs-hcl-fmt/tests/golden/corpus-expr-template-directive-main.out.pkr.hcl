variable "items" {
  default = ["a", "b"]
}
source "file" "a" {
  content = "%{for i in var.items}${i};%{endfor}"
  target  = "o.txt"
}
build {
  sources = ["source.file.a"]
}
