source "nosuchbuilder" "a" {
}
build {
  sources = ["source.nosuchbuilder.a"]
}
