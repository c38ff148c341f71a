locals {
  a = timestamp()
  b = formatdate("YYYY-MM-DD", timestamp())
  c = timeadd(timestamp(), "1h")
  d = uuidv4()
}
source "null" "a" {
  communicator = "none"
}
build {
  sources = ["source.null.a"]
}
