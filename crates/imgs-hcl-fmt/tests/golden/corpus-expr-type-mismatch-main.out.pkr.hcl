source "file" "a" {
  content = ["not", "a", "string"]
  target  = "o.txt"
}
build {
  sources = ["source.file.a"]
}
