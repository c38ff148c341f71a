# Shared shell helpers, sourced by provisioner scripts of several images.
log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*"; }
