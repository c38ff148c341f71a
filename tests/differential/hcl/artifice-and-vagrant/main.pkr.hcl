source "null" "a" {
  communicator = "none"
}
build {
  sources = ["source.null.a"]
  post-processors {
    post-processor "artifice" {
      files               = ["fetched/*.log"]
      keep_input_artifact = false
    }
    post-processor "compress" {
      output = "fetched.tar.gz"
    }
  }
  post-processor "vagrant" {
    output               = "boxes/${source.name}_{{.Provider}}.box"
    compression_level    = 9
    include              = ["vagrant/info.json"]
    vagrantfile_template = "vagrant/Vagrantfile.tpl"
    provider_override    = "libvirt"
  }
}
