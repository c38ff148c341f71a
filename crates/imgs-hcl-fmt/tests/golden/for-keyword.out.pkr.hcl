locals { for = 1 }
locals {
  b = { for k, v in var.m : k => v }
  c = "%{for x in var.l}${x}%{endfor}"
}
