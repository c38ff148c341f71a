locals {
  a = 1 # one
  bb = 2   // two
  ccc = 3 /* three */

  dddd = 4 # four
}
