greeting = "x"
undeclared = "y"
