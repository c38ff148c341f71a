source "file" "a" {
  source = "${path.cwd}/files/app.conf"
  target = "o.txt"
}
build {
  sources = ["source.file.a"]
}
