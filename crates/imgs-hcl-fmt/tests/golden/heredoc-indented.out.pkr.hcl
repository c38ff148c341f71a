source "file" "a" {
  content = <<-EOT
      indented
        more
      EOT
  target  = "o"
}
