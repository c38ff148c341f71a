locals {
  multi = [
    for x in var.list :
  x if x != ""]
  obj    = { a : 1, "b" : 2 }
  nested = { a = { b = [1, { c = 2 }] } }
  tern = var.a ? (
    1
  ) : 2
  interp = "x ${
    var.y
  } z"
  idx = var.list.0
  num = [1, 2][0]
  neg = [-1, -2, 3 - -4]
  call = f(
    a,
    b
  )
  close = [[1, 2],
  [3, 4]]
  mixed = {
  a = 1 }
  emoji       = "héllo wörld 👍🏽"
  é           = 1
  cmt         = [/* inline */ 1, 2] # trail
  splat       = var.a.*.b[*].c
  ellipsis    = max(var.nums...)
  str         = "a" # one
  longer_name = "b" // two
  z           = 3 /* three */
}
one { a = 1 }
empty {}
lbl x y {
}
/* leading */ locals { q = 1 }
variable "v" {
  validation {
    condition     = length(var.v) > 0 && can(regex("^a", var.v))
    error_message = "Bad."
  }
}
