source "file" "a" {
  content = <<EOF
line one
line two
EOF
  target = "o.txt"
}
build {
  sources = ["source.file.a"]
}
