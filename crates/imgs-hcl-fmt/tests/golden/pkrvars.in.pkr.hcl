greeting = "hi"
longer_name = "x"
n=1
