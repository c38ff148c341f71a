#!/bin/sh
# Records `packer fmt` (Packer 1.6.6) for every tests/golden/NAME.in.pkr.hcl as NAME.out.pkr.hcl;
# an input Packer refuses gets no .out file. Run from anywhere: crates/imgs-hcl-fmt/tests/record.sh
set -eu
here=$(cd "$(dirname "$0")" && pwd)/golden
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for input in "$here"/*.in.pkr.hcl; do
  name=$(basename "$input" .in.pkr.hcl)
  cp "$input" "$work/x.pkr.hcl"
  rm -f "$here/$name.out.pkr.hcl"
  if (cd "$work" && HOME="$work" CHECKPOINT_DISABLE=1 packer fmt x.pkr.hcl >/dev/null 2>&1); then
    cp "$work/x.pkr.hcl" "$here/$name.out.pkr.hcl"
  fi
done
