source "amazon-ebs" "app" {
region = "us-east-1"
  instance_type="t3.micro"
    ssh_username   =    "admin"
	ami_name = "app-${local.ts}"
  tags = {
  Name = "app"
      "Built-By"="imgs"
  }
  launch_block_device_mappings {
  device_name = "/dev/xvda"
  volume_size = 8
  }
}
