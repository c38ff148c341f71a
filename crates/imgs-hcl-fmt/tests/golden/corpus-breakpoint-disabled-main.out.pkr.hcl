source "null" "a" {
  communicator = "none"
}
build {
  sources = ["source.null.a"]
  provisioner "breakpoint" {
    disable = true
    note    = "inspect the machine"
  }
}
