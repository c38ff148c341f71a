locals {
  a = [for s in var.list : upper(s) if s != ""]
  b = { for k, v in var.map : k => v... }
  c = var.x ? "yes" : "no"
  d = -1 + 2 * -3 - (4 % 5) / 6
  e = ! true && false || 1 >= 2 == 3 <= 4 != 5
  f = var.list[*].id
  g = var.obj.*.name
  h = "${var.a}-${upper(var.b)}%{if var.c}x%{else}y%{endif}"
  i = "%{for x in var.l}${x},%{endfor}"
  j = "${ { a = 1 }.a}"
  k = [for x in [1, 2] : x]
  l = format("%s-%d", "a", 1)
  m = {
    "quoted key" = 1
    bare         = 2
    (var.k)      = 3
  }
  n = [
    1,
    2,
    3,
  ]
  o = concat(["a"], ["b"],
  ["c"])
  p = "$${escaped} %%{also}"
  q = "a\"b\\c\n"
  r = 1.5e10
  s = null
  t = lookup(var.m, "k", [])[0]
  u = var.a[0][1].b
  v = f(var.list...)
  w = "${~var.x~}"
  x = <<EOF2
    body ${var.y}
  %{if true}ok%{endif}
EOF2
  y = <<-EOT
      dedented
    EOT
  z = { a = 1, b = 2 }
}
