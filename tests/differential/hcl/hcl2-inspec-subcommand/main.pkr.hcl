source "null" "a" {
  ssh_host = "127.0.0.1"
  ssh_username = "root"
  ssh_password = "x"
}
build {
  sources = ["source.null.a"]
  provisioner "inspec" {
    profile = "files"
    subcommand = "exec"
  }
}
