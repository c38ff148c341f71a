greeting = "from auto"
