source "null" "a" {
  communicator = "none"
}
build {
  source "source.null.nope" {
  }
}
