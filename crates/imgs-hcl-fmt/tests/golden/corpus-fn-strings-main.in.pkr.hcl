locals {
  a = upper("x")
  b = lower("X")
  c = title("hello world")
  d = trim("?!hi!?", "!?")
  e = trimprefix("helloworld", "hello")
  f = trimsuffix("helloworld", "world")
  g = trimspace("  x  ")
  h = chomp("x\n\n")
  i = indent(2, "a\nb")
  j = strrev("abc")
  k = substr("hello", 1, 3)
  l = split(",", "a,b")
  m = join("-", ["a", "b"])
  n = replace("a-b", "-", "_")
  o = regex_replace("a1b2", "[0-9]", "")
  p = format("%s-%03d", "x", 7)
  q = formatlist("%s!", ["a", "b"])
  r = basename("/a/b.txt")
  s = dirname("/a/b.txt")
}
source "null" "a" {
  communicator = "none"
}
build {
  sources = ["source.null.a"]
}
