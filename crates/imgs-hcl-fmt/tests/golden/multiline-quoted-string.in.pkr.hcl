source "file" "a" {
  target = "out
.txt"
}
