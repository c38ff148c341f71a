source "file" "a" {
  content = <<EOF
hello
  target = "o.txt"
}
build {
  sources = ["source.file.a"]
}
