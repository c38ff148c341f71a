# a file comment

/*
  block comment
     keeps its shape
*/
variable "x" {
  default = {
    a  = 1
    bb = { c = 2 }
  }
}
