locals {
  x = [
    1,
    2
  ]
  y = {
    a = 1,
    b = 2
  }
  z = func(
    "a",
    "b",
  )
}
