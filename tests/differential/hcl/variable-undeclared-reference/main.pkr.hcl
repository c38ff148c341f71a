source "file" "a" {
  content = var.nope
  target = "o.txt"
}
build {
  sources = ["source.file.a"]
}
