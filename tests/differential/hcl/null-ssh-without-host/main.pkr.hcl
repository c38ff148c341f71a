source "null" "a" {
  ssh_username = "root"
}
build {
  sources = ["source.null.a"]
}
