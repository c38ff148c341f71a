source "file" "a" {
  content = "hello"
  target  = "out.txt"
}
build {
  sources = ["source.file.a"]
  post-processor "compress" {
    output = "out.tar.gz"
    keep_input_artifact = true
  }
}
