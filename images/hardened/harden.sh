#!/bin/sh
# Applies the hardening policy shipped by the file provisioner in /tmp/hardened-files.
set -eu
cp -r /tmp/hardened-files/etc/. /etc/
rm -rf /tmp/hardened-files
chmod 600 /etc/ssh/sshd_config.d/50-hardened.conf
sysctl --system >/dev/null 2>&1 || true
echo 'hardened by imgs' > /etc/imgs-hardened
