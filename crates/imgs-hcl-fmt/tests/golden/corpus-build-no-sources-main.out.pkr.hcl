build {
}
