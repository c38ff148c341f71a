variable "greeting" {
  default = ""
  validation {
    condition = var.greeting != ""
    error_message = "The greeting must not be empty."
  }
}
source "file" "a" {
  content = var.greeting
  target  = "out.txt"
}
build {
  sources = ["source.file.a"]
}
