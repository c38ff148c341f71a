variable "greeting" {
  default = "x"
  validation {
    condition = var.greeting != ""
    error_message = "lowercase and no period"
  }
}
source "file" "a" {
  content = var.greeting
  target  = "out.txt"
}
build {
  sources = ["source.file.a"]
}
