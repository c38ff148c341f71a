source "file" "a" {
  content = <<EOF
   keep   this   spacing
	and tabs
${var.x}
EOF
      target = "o.txt"
}
