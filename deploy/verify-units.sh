#!/usr/bin/env bash
# Checks deploy/shoutd.service and deploy/shoutd.socket with `systemd-analyze verify` (no running
# systemd needed). verify insists that ExecStart's binary exists, so it checks a copy whose
# ExecStart points at a freshly built shoutd; any warning (an unknown key, a typo) fails too.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet --bin shoutd
dir=$(mktemp -d)
trap 'rm -r "$dir"' EXIT
cp deploy/shoutd.socket "$dir/"
sed "s|/usr/local/bin/shoutd|$PWD/target/debug/shoutd|" deploy/shoutd.service >"$dir/shoutd.service"
if ! out=$(systemd-analyze verify --man=no "$dir/shoutd.socket" "$dir/shoutd.service" 2>&1) \
    || [ -n "$out" ]; then
  echo "systemd-analyze verify: the unit files have problems:" >&2
  echo "$out" >&2
  exit 1
fi
echo "unit files verified: deploy/shoutd.service, deploy/shoutd.socket"
