source "file" "a" {
  content = "x"
  target = "o.txt"
  keep_input_artifact = "perhaps"
}
build {
  sources = ["source.file.a"]
}
