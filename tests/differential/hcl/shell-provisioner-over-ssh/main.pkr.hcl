source "null" "ssh" {
  ssh_host = "127.0.0.1"
  ssh_username = "root"
  ssh_password = "x"
}
build {
  sources = ["source.null.ssh"]
  provisioner "shell" {
    script = "scripts/setup.sh"
    environment_vars = ["A=1"]
  }
  provisioner "file" {
    source = "files/app.conf"
    destination = "/tmp/app.conf"
  }
}
