#!/bin/sh
set -e
mkdir -p /opt/example/web
echo "web" >> /opt/example/layers
