source "qemu" "a" {
  iso_url = "debian.iso"
  iso_checksum = "none"
  ssh_username = "root"
  format = "vmdk"
}
build {
  sources = ["source.qemu.a"]
}
