build {
  sources = ["source.null.a", "source.null.b"]


  provisioner "shell" {
    inline = [
      "echo one",
      "echo two",
    ]
    environment_vars = ["A=1", "B=2"]
  }
}
