locals {
  a  = 1 # onetwo
  bb = 2
} # done  