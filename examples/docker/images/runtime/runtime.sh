#!/bin/sh
set -e
chmod 0755 /opt/example/bin/serve
echo "runtime" >> /opt/example/layers
