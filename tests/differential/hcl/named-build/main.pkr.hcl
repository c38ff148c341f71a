source "null" "a" {
  communicator = "none"
}
build {
  name = "app"
  sources = ["source.null.a"]
}
