#!/usr/bin/env bash
# Takes a screenshot of the demo's live status page (GET /status) under load,
# in headless Chromium: to look at the page without a desktop.
# Needs: chromium (apt-get install -y chromium); builds the demo itself.
# Run (from the repository root):
#   scripts/status_screenshot.sh                 # writes status.png
#   OUT=/tmp/s.png SECONDS_OF_LOAD=6 scripts/status_screenshot.sh
#   BIN=target/debug/greenloop scripts/status_screenshot.sh   # a binary already built
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-status.png}"
LOAD="${SECONDS_OF_LOAD:-5}"
BROWSER="$(command -v chromium || command -v chromium-browser || true)"
[ -n "$BROWSER" ] || { echo "chromium not found (apt-get install -y chromium)" >&2; exit 1; }
if [ -z "${BIN:-}" ]; then
  cargo build --release --bin greenloop >&2
  BIN="${CARGO_TARGET_DIR:-target}/release/greenloop"
fi
PORT="${PORT:-18777}"
"$BIN" --bind "127.0.0.1:$PORT" --quiet 2>/dev/null &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true; kill $LOADER 2>/dev/null || true' EXIT
sleep 0.5
# A steady load with a blocking incident in it, so every chart has something to draw.
"$BIN" swarm "http://127.0.0.1:$PORT/sleep?ms=20" --users 20 --duration "$((LOAD + 5))" >/dev/null 2>&1 &
LOADER=$!
curl -s "http://127.0.0.1:$PORT/block?ms=150" >/dev/null || true
PROFILE="$(mktemp -d)"
"$BROWSER" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --disable-background-networking \
  --disable-component-update --disable-sync --no-first-run --user-data-dir="$PROFILE" \
  --window-size=1200,900 --virtual-time-budget="$((LOAD * 1000))" --screenshot="$OUT" \
  "http://127.0.0.1:$PORT/status" >/dev/null 2>&1
rm -rf "$PROFILE"
echo "wrote $OUT"
