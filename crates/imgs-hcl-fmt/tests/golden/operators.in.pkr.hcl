locals {
  n = (1+2)*3 - -1
  m = 4/2%3
  b = !true && false || 1>=2
  c = var.x==1 ? "a":"b"
  neg = -5
  s = [for x in [1,2]: x*2]
  o = {for k,v in var.m: k=>v}
  sp = var.list[*].id
  idx = var.list [0]
}
