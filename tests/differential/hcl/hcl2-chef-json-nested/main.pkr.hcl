source "null" "a" {
  ssh_host = "127.0.0.1"
  ssh_username = "root"
  ssh_password = "x"
}
build {
  sources = ["source.null.a"]
  provisioner "chef-solo" {
    run_list = ["recipe[web]"]
    cookbook_paths = ["chef/cookbooks"]
    json = {
      a = { b = "c" }
    }
  }
}
