#!/usr/bin/env bash
# A PNG of an HTML report (`shout bench --report`, `shout report -o`), as headless Chromium
# draws it: the way to look at a report on a machine without a desktop, and to check that it
# shows what it should. Network access is blocked for the page (every host name fails to
# resolve), so a report that needed anything from outside would show it.
#
# Usage: bench/report-screenshot.sh REPORT.html OUT.png [WIDTH]
# Needs Chromium (Debian: apt-get install chromium). Exit code 2 on a usage error or when no
# browser is found.
set -euo pipefail
if [ $# -lt 2 ]; then
  echo "usage: $0 REPORT.html OUT.png [WIDTH]" >&2
  exit 2
fi
html=$(realpath "$1")
out=$(realpath -m "$2")
width=${3:-1000}
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
if [ -z "$browser" ]; then
  echo "$0: no Chromium found (Debian: apt-get install chromium)" >&2
  exit 2
fi
# Headless Chromium captures its window, not the whole page: make the window as tall as the
# page is likely to be (a chart is 380 px plus its heading and note; a table row about 24 px).
figures=$(grep -o '<figure' "$html" | wc -l)
rows=$(grep -o '<tr>' "$html" | wc -l)
height=$((300 + figures * 470 + rows * 24))
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
# --no-sandbox: Chromium refuses to run as root otherwise (containers, CI).
"$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars \
  --user-data-dir="$profile" --host-resolver-rules="MAP * ~NOTFOUND" \
  --window-size="$width,$height" --screenshot="$out" "file://$html" 2>/dev/null
test -s "$out"
echo "$out: ${width}x${height}"
