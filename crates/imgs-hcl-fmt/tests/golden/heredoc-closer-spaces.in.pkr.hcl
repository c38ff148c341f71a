source "file" "a" {
    content = <<EOF
line one
  EOF  
target = "o.txt"
   }
