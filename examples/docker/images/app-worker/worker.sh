#!/bin/sh
set -e
mkdir -p /opt/example/worker
echo "worker" >> /opt/example/layers
