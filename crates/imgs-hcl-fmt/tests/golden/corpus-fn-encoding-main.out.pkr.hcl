locals {
  a = base64encode("x")
  b = base64decode("eA==")
  c = jsonencode({ a = 1 })
  d = jsondecode("{\"a\": 1}")
  e = yamlencode({ a = 1 })
  f = yamldecode("a: 1")
  g = csvdecode("a,b\n1,2\n")
  h = urlencode("a b")
  i = md5("x")
  j = sha1("x")
  k = sha256("x")
  l = sha512("x")
  m = bcrypt("x", 4)
  n = uuidv5("dns", "example.com")
}
source "null" "a" {
  communicator = "none"
}
build {
  sources = ["source.null.a"]
}
