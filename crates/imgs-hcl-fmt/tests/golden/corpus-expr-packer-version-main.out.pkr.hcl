source "file" "a" {
  content = packer.version
  target  = "o.txt"
}
build {
  sources = ["source.file.a"]
}
