source "null" "a" {
  communicator = "none"
}
build {
  sources = ["source.null.a"]
  post-processor "vagrant" {
    output = "boxes/{{.Provider}}.box"
    override = {
      libvirt = {
        compression_level = 1
      }
    }
  }
}
