locals {
  a = 1
}
  