source "file" "a" {
  source = "${path.root}/../../files/app.conf"
  target = "o.txt"
}
build {
  sources = ["source.file.a"]
}
