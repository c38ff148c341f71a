build {
  sources = ["source.null.a"]
}
