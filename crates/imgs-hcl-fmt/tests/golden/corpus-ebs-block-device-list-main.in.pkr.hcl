source "amazon-ebs" "a" {
  region = "us-east-1"
  source_ami = "ami-12345678"
  instance_type = "t3.micro"
  ssh_username = "admin"
  ami_name = "app"
  launch_block_device_mappings {
    device_name = "/dev/xvda"
    volume_size = 10
  }
  launch_block_device_mappings {
    device_name = "/dev/xvdb"
    volume_size = 20
  }
}
build {
  sources = ["source.amazon-ebs.a"]
}
