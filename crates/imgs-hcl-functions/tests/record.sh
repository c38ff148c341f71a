#!/bin/sh
# Records what Packer 1.6.6's `packer console` prints for each expression of expressions.txt
# into packer_console.txt (one `>>> EXPRESSION` line, then Packer's output). Run from anywhere:
#   crates/imgs-hcl-functions/tests/record.sh
set -eu
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
printf 'source "null" "a" {\n  communicator = "none"\n}\nbuild {\n  sources = ["source.null.a"]\n}\n' > "$work/console.pkr.hcl"
out="$here/packer_console.txt"
: > "$out"
while IFS= read -r expr; do
  [ -z "$expr" ] && continue
  printf '>>> %s\n' "$expr" >> "$out"
  printf '%s\n' "$expr" | (cd "$work" && HOME="$work" CHECKPOINT_DISABLE=1 packer console console.pkr.hcl 2>&1) \
    | sed -e 's/[[:space:]]*$//' >> "$out" || true
done < "$here/expressions.txt"
