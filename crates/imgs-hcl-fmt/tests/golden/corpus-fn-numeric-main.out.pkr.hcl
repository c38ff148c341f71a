locals {
  a = abs(-1)
  b = ceil(1.2)
  c = floor(1.8)
  d = log(8, 2)
  e = pow(2, 10)
  f = signum(-3)
  g = max(1, 5)
  h = min(1, 5)
  i = parseint("ff", 16)
}
source "null" "a" {
  communicator = "none"
}
build {
  sources = ["source.null.a"]
}
