source "null" "a" {
  communicator = "none"
}
build {
  description = "the app image"
  sources = ["source.null.a"]
}
