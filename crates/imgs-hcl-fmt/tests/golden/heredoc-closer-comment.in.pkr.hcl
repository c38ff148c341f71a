source "file" "a" {
  content = <<EOF
hi
EOF # no
  target = "o"
}
