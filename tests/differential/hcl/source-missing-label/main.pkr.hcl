source "null" {
  communicator = "none"
}
build {
  sources = ["source.null.a"]
}
