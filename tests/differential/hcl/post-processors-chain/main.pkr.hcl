source "file" "a" {
  content = "hello"
  target  = "out.txt"
}
build {
  sources = ["source.file.a"]
  post-processors {
    post-processor "compress" {
      output = "out.tar.gz"
    }
    post-processor "checksum" {
      checksum_types = ["sha256"]
    }
  }
}
