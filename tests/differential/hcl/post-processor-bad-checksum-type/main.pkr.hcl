source "file" "a" {
  content = "hello"
  target  = "out.txt"
}
build {
  sources = ["source.file.a"]
  post-processor "checksum" {
    checksum_types = ["crc99"]
  }
}
