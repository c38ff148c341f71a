source "file" "a" {
  content = "hello"
  target  = "out.txt"
}
build {
  sources = ["source.file.a"]
  post-processors {
  }
}
