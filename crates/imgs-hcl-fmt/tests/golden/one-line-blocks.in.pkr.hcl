variable "x"    {
}
variable "y" {default="z"}
source "null" "a" { communicator = "none" }
