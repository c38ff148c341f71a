locals {
  maps = [{ d = "/dev/xvdb", s = 10 }, { d = "/dev/xvdc", s = 20 }]
}
source "amazon-ebs" "a" {
  region        = "us-east-1"
  source_ami    = "ami-12345678"
  instance_type = "t3.micro"
  ssh_username  = "admin"
  ami_name      = "app"
  dynamic "launch_block_device_mappings" {
    for_each = local.maps
    content {
      device_name = launch_block_device_mappings.value.d
      volume_size = launch_block_device_mappings.value.s
    }
  }
}
build {
  sources = ["source.amazon-ebs.a"]
}
