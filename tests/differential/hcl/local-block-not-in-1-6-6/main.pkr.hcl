local "x" {
  expression = "y"
}
source "null" "a" {
  communicator = "none"
}
build {
  sources = ["source.null.a"]
}
