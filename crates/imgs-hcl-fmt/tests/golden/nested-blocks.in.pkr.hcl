build {
  name = "x"
  source "source.null.a" {
      name = "renamed"
  }
  post-processors {
  post-processor "manifest" {
  output = "m.json"
  strip_path = true
  }
  }
}
