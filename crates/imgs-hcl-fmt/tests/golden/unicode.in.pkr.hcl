locals {
  a="é"
  bé = "x"
  long_name_here = "y"
}
