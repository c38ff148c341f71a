source "file" "a" {
  content = frobnicate("x")
  target = "o.txt"
}
build {
  sources = ["source.file.a"]
}
