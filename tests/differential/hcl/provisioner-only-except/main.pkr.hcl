source "null" "ssh" {
  ssh_host = "127.0.0.1"
  ssh_username = "root"
  ssh_password = "x"
}
source "null" "a" {
  communicator = "none"
}
build {
  sources = ["source.null.a", "source.null.ssh"]
  provisioner "shell" {
    inline = ["echo"]
    only = ["null.ssh"]
  }
  provisioner "shell-local" {
    inline = ["echo"]
    except = ["null.ssh"]
  }
}
