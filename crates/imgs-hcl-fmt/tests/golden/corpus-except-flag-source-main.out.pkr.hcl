source "null" "a" {
  communicator = "none"
}
source "file" "a" {
  content = "hello"
  target  = "out.txt"
}
build {
  sources = ["source.null.a", "source.file.a"]
}
