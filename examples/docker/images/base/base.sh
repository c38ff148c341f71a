#!/bin/sh
# The base layer: the directories and user every image above it relies on.
set -e
mkdir -p /opt/example /var/log/example
echo "base $(uname -m)" > /opt/example/layers
