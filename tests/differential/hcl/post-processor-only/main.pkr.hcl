source "file" "a" {
  content = "hello"
  target  = "out.txt"
}
source "null" "a" {
  communicator = "none"
}
build {
  sources = ["source.file.a", "source.null.a"]
  post-processor "manifest" {
    only = ["file.a"]
  }
}
