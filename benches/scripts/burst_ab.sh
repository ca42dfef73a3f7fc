#!/usr/bin/env bash
# Measures: wall time of a sleep burst (CONNS connections at once, each
#   GET /sleep?ms=1000) against several greenloop builds, in interleaved
#   rounds, so that two builds can be compared in a few minutes on a noisy
#   machine. Prints per build: median, mean, min, max wall in ms, and every run.
# Needs: taskset (util-linux), a release build of each greenloop to compare, and
#   the burst client sleep_burst of benches/peers/h1, built here on first use:
#   (cd benches/peers/h1 && cargo build --release). BURST=path takes another
#   client of the same arguments (ADDR PATH CONNS TIMEOUT_MS, printing
#   wall_ms=N); PEERS=dir takes dir/servers/target/release/sleep_burst, an
#   outside harness's.
# Run (from the repository root):
#   benches/scripts/burst_ab.sh /tmp/greenloop-old target/release/greenloop
#   ROUNDS=6 CONNS=10000 benches/scripts/burst_ab.sh A B
# Server pinned to CPU 1, client to CPU 0.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS="${ROUNDS:-6}"
CONNS="${CONNS:-10000}"
PORT="${PORT:-19700}"
if [ -n "${PEERS:-}" ]; then
  BURST="${BURST:-$PEERS/servers/target/release/sleep_burst}"
else
  BURST="${BURST:-benches/peers/h1/target/release/sleep_burst}"
  [ -x "$BURST" ] || cargo build --release --quiet --manifest-path benches/peers/h1/Cargo.toml
fi
[ -x "$BURST" ] || { echo "$BURST: no such executable" >&2; exit 1; }
[ "$#" -ge 1 ] || { echo "usage: $0 BUILD [BUILD...]" >&2; exit 2; }
ulimit -n 65535 2>/dev/null || ulimit -n "$(ulimit -Hn)"

OUT="$(mktemp)"
pid=""
trap 'rm -f "$OUT"; [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true' EXIT
for _ in $(seq "$ROUNDS"); do
  for bin in "$@"; do
    PORT=$((PORT + 1))
    taskset -c 1 "$bin" --bind "127.0.0.1:$PORT" --quiet >/dev/null 2>&1 &
    pid=$!
    for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done
    wall="$(taskset -c 0 "$BURST" "127.0.0.1:$PORT" "/sleep?ms=1000" "$CONNS" 5000 | sed -n 's/.*wall_ms=\([0-9]*\).*/\1/p')"
    kill -9 "$pid"; wait "$pid" 2>/dev/null || true; pid=""
    echo "$bin ${wall:-failed}" >>"$OUT"
    sleep 1 # let the closed connections' sockets go
  done
done
for bin in "$@"; do
  awk -v b="$bin" '$1 == b && $2 != "failed" { print $2 }' "$OUT" | sort -n |
    awk -v b="$bin" '{ v[NR] = $1; s += $1; all = all " " $1 }
      END { if (NR) printf "%s: median %d, mean %.0f, min %d, max %d ms  [%s ]\n", b, v[int((NR + 1) / 2)], s / NR, v[1], v[NR], all }'
done
