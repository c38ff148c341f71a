locals {
  a = 1
}	  