x = <<EOF
hi
EOF