#!/bin/sh
# Applies the hardening policy shipped by the file provisioner in /tmp/files.
set -eu
cp -r /tmp/files/etc/. /etc/
rm -rf /tmp/files
chmod 600 /etc/ssh/sshd_config.d/50-hardened.conf
sysctl --system >/dev/null 2>&1 || true
echo 'hardened by imgs' > /etc/imgs-hardened
