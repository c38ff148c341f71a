locals {
  a = 1
} # done