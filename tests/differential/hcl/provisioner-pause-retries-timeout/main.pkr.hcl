source "null" "a" {
  communicator = "none"
}
build {
  sources = ["source.null.a"]
  provisioner "shell-local" {
    inline = ["echo"]
    pause_before = "10s"
    max_retries = 3
    timeout = "5m"
  }
}
