source "null" "a" {
  communicator   = "winrm"
  winrm_host     = "h"
  winrm_username = "u"
  winrm_password = "p"
}
build {
  sources = ["source.null.a"]
}
