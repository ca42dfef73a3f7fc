#!/usr/bin/env bash
# Measures: resident memory of the release demo (one worker) while N clients download a
#   10 MiB JSON-lines file compressed, slowly (curl --limit-rate 20k), per coding: the
#   memory one streamed compression holds, and (N above the middleware's max_streams, 16)
#   that the total stays bounded.
# Needs: curl, python3; a release build (cargo build --release).
# Run (from the repository root):
#   benches/scripts/compression_memory.sh          # N=30
#   N=100 benches/scripts/compression_memory.sh
set -euo pipefail
BIN="$(realpath "${1:-$(dirname "$0")/../../target/release/greenloop}")"
N="${N:-30}"
PORT="${PORT:-18490}"
[ -x "$BIN" ] || { echo "$BIN: no such executable (cargo build --release?)" >&2; exit 1; }
OUT="$(mktemp -d)"
gl=""
cpids=()
cleanup() { kill "${cpids[@]}" $gl 2>/dev/null || true; rm -rf "$OUT"; }
trap cleanup EXIT
python3 - "$OUT/big.txt" <<'PY'
import json, random, sys
random.seed(1)
with open(sys.argv[1], "w") as out:
    n = 0
    while n < 10 * 1024 * 1024:
        s = json.dumps({"id": n, "name": "user%d" % random.randint(0, 99999), "score": random.random()}) + "\n"
        out.write(s)
        n += len(s)
PY
rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
for coding in gzip br zstd; do
  # The watchdog off: on a busy machine a preempted loop looks
  # held, and the stack report it then makes loads debug info (tens of MiB
  # of RSS that are not compression's).
  GREENLOOP_WATCHDOG_MS=0 "$BIN" --bind "127.0.0.1:$PORT" --workers 1 --quiet --static "$OUT" 2>/dev/null &
  gl=$!
  for _ in $(seq 50); do curl -sf "http://127.0.0.1:$PORT/plaintext" >/dev/null && break; sleep 0.1; done
  before=$(rss "$gl")
  cpids=()
  for _ in $(seq "$N"); do
    curl -s --limit-rate 20k -H "Accept-Encoding: $coding" "http://127.0.0.1:$PORT/static/big.txt" -o /dev/null &
    cpids+=($!)
  done
  sleep 4
  during=$(rss "$gl")
  printf "%-5s RSS %6d KiB idle, %7d KiB with %d slow downloads: %5d KiB each\n" \
    "$coding" "$before" "$during" "$N" $(((during - before) / N))
  # SIGKILL: a graceful stop would keep serving while the next server binds
  # the port (SO_REUSEPORT) and takes some of its clients.
  kill "${cpids[@]}" 2>/dev/null || true
  kill -KILL "$gl" 2>/dev/null || true
  wait 2>/dev/null || true
  gl=""
  PORT=$((PORT + 1))
done
