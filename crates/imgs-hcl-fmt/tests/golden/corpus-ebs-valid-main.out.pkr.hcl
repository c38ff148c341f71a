source "amazon-ebs" "a" {
  region        = "us-east-1"
  source_ami    = "ami-12345678"
  instance_type = "t3.micro"
  ssh_username  = "admin"
  ami_name      = "app-{{timestamp}}"
  tags = {
    Name = "app"
  }
}
build {
  sources = ["source.amazon-ebs.a"]
}
