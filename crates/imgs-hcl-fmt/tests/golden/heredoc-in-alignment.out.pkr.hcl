a   = 1
bb  = <<EOT
x
EOT
ccc = 3          # c
d   = "${a}${b}" # d
