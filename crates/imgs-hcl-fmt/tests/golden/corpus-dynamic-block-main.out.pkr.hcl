locals {
  cmds = ["echo a", "echo b"]
}
source "null" "a" {
  communicator = "none"
}
build {
  sources = ["source.null.a"]
  dynamic "provisioner" {
    for_each = local.cmds
    content {
      inline = [provisioner.value]
    }
  }
}
