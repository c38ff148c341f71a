locals {
  a = "${
    upper("x")
  }-${var.b}"
  bb = 1
}
