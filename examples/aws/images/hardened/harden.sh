#!/bin/sh
# Records what the hardening would apply; writes only under /tmp so the example also runs against a
# plain SSH server standing in for an instance.
set -eu
test -f "$SETTINGS_DIR/sysctl.conf"
sort "$SETTINGS_DIR/sysctl.conf" > /tmp/imgs-hardened-sysctl
echo hardened > /tmp/imgs-hardened
