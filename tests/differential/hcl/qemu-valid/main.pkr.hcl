source "qemu" "a" {
  iso_url = "debian.iso"
  iso_checksum = "none"
  ssh_username = "root"
  ssh_password = "x"
  shutdown_command = "poweroff"
  qemuargs = [["-m", "512"]]
}
build {
  sources = ["source.qemu.a"]
}
