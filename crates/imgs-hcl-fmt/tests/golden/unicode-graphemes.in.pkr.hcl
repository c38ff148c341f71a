locals {
  a = "👨‍👩‍👧" # family
  bb = 1 # d
  e = "é" # combining
  ffff = "👋🏽" # wave
  g = "日本語" # wide
}
