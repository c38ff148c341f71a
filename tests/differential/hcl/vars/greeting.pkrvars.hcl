greeting = "from a var file"
