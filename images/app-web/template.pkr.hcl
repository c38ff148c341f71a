# Converted from template.json by imgs hcl2-upgrade.

variable "source_disk" {
  type = string
}

variable "kernel" {
  type    = string
  default = "cache/base-image/vmlinuz"
}

variable "initrd" {
  type    = string
  default = "cache/base-image/initrd.img"
}

variable "ssh_username" {
  type    = string
  default = "imgs"
}

variable "ssh_private_key_file" {
  type    = string
  default = "cache/base-image/id_ed25519"
}

variable "memory" {
  type    = string
  default = "1024"
}

variable "site_title" {
  type    = string
  default = "imgs"
}

source "qemu" "app-web" {
  iso_url          = "${var.source_disk}"
  iso_checksum     = "none"
  disk_image       = true
  use_backing_file = true
  format           = "qcow2"
  output_directory = "cache/artifacts/app-web"
  vm_name          = "app-web.qcow2"
  accelerator      = "tcg"
  memory           = "${var.memory}"
  headless         = true
  qemuargs = [
    ["-kernel", "${var.kernel}"],
    ["-initrd", "${var.initrd}"],
    ["-append", "root=/dev/vda rw console=ttyS0 net.ifnames=0"],
  ]
  ssh_username         = "${var.ssh_username}"
  ssh_private_key_file = "${var.ssh_private_key_file}"
  ssh_timeout          = "5m"
  shutdown_command     = "sudo systemctl poweroff"
}

build {
  description = "A static web site served by busybox httpd, on the hardened image"
  sources     = ["source.qemu.app-web"]

  provisioner "file" {
    source      = "${path.root}/site"
    destination = "/tmp"
  }

  provisioner "shell" {
    script           = "${path.root}/install.sh"
    environment_vars = ["SITE_TITLE=${var.site_title}"]
    execute_command  = "chmod +x {{ .Path }}; sudo {{ .Vars }} {{ .Path }}"
  }

  post-processor "manifest" {
    output = "cache/artifacts/app-web/packer-manifest.json"
  }
}
