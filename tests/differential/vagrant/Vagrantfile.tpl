# from the template of {{ .BuildName }} ({{ .Provider }})
Vagrant.configure("2") do |config|
  config.vm.box_check_update = false
end
