source "null" "a" {
  communicator = "none"
}
build {
  sources = ["source.null.a"]
  provisioner "shell-local" {
    script = "${path.root}/../../scripts/local.sh"
  }
}
