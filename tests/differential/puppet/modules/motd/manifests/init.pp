class motd {}
