locals {
  a = length([1, 2])
  b = element(["a", "b"], 3)
  c = index(["a", "b"], 1)
  d = concat(["a"], ["b"])
  e = contains(["a"], "a")
  f = distinct(["a", "a"])
  g = flatten([["a"], ["b"]])
  h = keys({ a = 1 })
  i = values({ a = 1 })
  j = lookup({ a = "x" }, "b", "d")
  k = merge({ a = 1 }, { b = 2 })
  l = reverse([1, 2])
  m = slice(["a", "b", "c"], 1, 2)
  n = sort(["b", "a"])
  o = compact(["a", ""])
  p = chunklist([1, 2, 3], 2)
  q = coalesce("", "x")
  r = coalescelist([], ["x"])
  s = range(3)
  t = setintersection(["a", "b"], ["b"])
  u = setunion(["a"], ["b"])
  v = setproduct(["a"], ["b", "c"])
  w = zipmap(["a"], [1])
}
source "null" "a" {
  communicator = "none"
}
build {
  sources = ["source.null.a"]
}
