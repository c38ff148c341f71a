source "file" "a" {
  content = "hello"
  target  = "out.txt"
}
build {
  source "source.file.a" {
    target = "other.txt"
  }
}
