source "file" "a" {
  content = "x"
}
build {
  sources = ["source.file.a"]
}
