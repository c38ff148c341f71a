source "file" "a" {
  content = "x"
  source = "files/app.conf"
  target = "o.txt"
}
build {
  sources = ["source.file.a"]
}
