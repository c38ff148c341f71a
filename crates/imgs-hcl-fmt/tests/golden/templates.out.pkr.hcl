locals {
  t   = "${var.a}-${var.b}"
  d   = "%{if var.c}yes%{else}no%{endif}"
  esc = "$${not} %%{not}"
  q   = "a \"quoted\" \\ slash"
  f   = upper("x")
  g   = format("%s", "y")
}
