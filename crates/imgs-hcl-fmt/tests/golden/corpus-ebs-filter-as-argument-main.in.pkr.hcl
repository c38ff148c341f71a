source "amazon-ebs" "a" {
  region = "us-east-1"
  instance_type = "t3.micro"
  ssh_username = "admin"
  ami_name = "app"
  source_ami_filter = {
    owners = ["amazon"]
  }
}
build {
  sources = ["source.amazon-ebs.a"]
}
