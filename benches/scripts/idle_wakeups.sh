#!/usr/bin/env bash
# Measures: how often an idle demo server wakes up, as the context switches
#   (voluntary + involuntary) of all its threads over a few seconds, read
#   from /proc/PID/task/*/status; per thread and in total, per second.
# Needs: Linux (/proc); builds the demo itself unless BIN is given.
# Run (from the repository root):
#   benches/scripts/idle_wakeups.sh                          # 2 workers, 5 s
#   WORKERS=1 SECONDS_IDLE=10 benches/scripts/idle_wakeups.sh
#   BIN=target/debug/greenloop benches/scripts/idle_wakeups.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
WORKERS="${WORKERS:-2}"
IDLE="${SECONDS_IDLE:-5}"
PORT="${PORT:-18778}"
if [ -z "${BIN:-}" ]; then
  cargo build --release --bin greenloop >&2
  BIN="${CARGO_TARGET_DIR:-target}/release/greenloop"
fi
"$BIN" --bind "127.0.0.1:$PORT" --workers "$WORKERS" --quiet 2>/dev/null &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
sleep 1
curl -s "http://127.0.0.1:$PORT/plaintext" >/dev/null || true   # everything lazily started has started
sleep 1
switches() { # per thread: tid name count
  for t in /proc/"$PID"/task/*; do
    printf '%s %s %s\n' "${t##*/}" "$(tr ' ' '_' <"$t/comm")" "$(awk '/ctxt_switches/ { s += $2 } END { print s }' "$t/status")"
  done
}
before="$(switches)"
sleep "$IDLE"
after="$(switches)"
join <(sort <<<"$before") <(sort <<<"$after") |
  awk -v s="$IDLE" -v w="$WORKERS" '{ d = $5 - $3; total += d; printf "%-22s %8.1f /s\n", $2, d / s }
    END { printf "%-22s %8.1f /s  (%d workers, %d s)\n", "total", total / s, w, s }'
