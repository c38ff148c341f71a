source "null" "ssh" {
  ssh_host = "127.0.0.1"
  ssh_username = "root"
  ssh_password = "x"
}
build {
  sources = ["source.null.ssh"]
  provisioner "ansible" {
    playbook_file = "playbooks/nope.yml"
  }
}
