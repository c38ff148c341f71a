locals {
  a = "%{ fori in var.l }${i}%{ endfor }"
}
