locals {
  a = [for x invar.list : x]
}
