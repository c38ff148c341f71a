source "null" "a" {
  communicator = "none"
}
build {
  name = "one"
  sources = ["source.null.a"]
}
build {
  name = "two"
  sources = ["source.null.a"]
}
