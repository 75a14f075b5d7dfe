#!/usr/bin/env bash
# Renders a run's report.html in headless Chromium (Debian package `chromium`) to a PNG, with
# the network off, to check that the self-contained page shows every figure.
#
#   scripts/render_report.sh runs/demo [OUT.png] [HEIGHT]
set -euo pipefail
run="${1:?usage: scripts/render_report.sh RUN_DIR [OUT.png] [HEIGHT]}"
out="${2:-$run/report.png}"
height="${3:-9000}"
report="$(cd "$run" && pwd)/report.html"
[ -f "$report" ] || { echo "error: $report does not exist (run medpath demo or medpath report first)" >&2; exit 1; }
browser="$(command -v chromium || command -v chromium-browser || true)"
[ -n "$browser" ] || { echo "error: chromium not found (apt-get install chromium)" >&2; exit 1; }
# No network: the page must be self-contained.
"$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars \
  --proxy-server=127.0.0.1:9 --proxy-bypass-list='<-loopback>' \
  --window-size=1200,"$height" --screenshot="$out" "file://$report" 2>/dev/null
echo "$out"
