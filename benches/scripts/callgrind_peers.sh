#!/usr/bin/env bash
# Measures: user-space instructions per request of the peer servers
#   (floor_mio, hyper_ct, may_mini of benches/peers/h1), GET /plaintext one
#   request at a time per connection, then 16 pipelined, exactly as
#   callgrind_per_request.sh counts greenloop (callgrind_load.sh: the server
#   run as `valgrind --tool=callgrind SERVER PORT`, `wrk -t1 -c$CONNS -d$DUR`,
#   total instructions of all threads / requests), so the two tables sit
#   side by side when CONNS and DUR are the same.
# Needs: wrk, valgrind, curl (apt-get install -y wrk valgrind curl), cargo;
#   the peers are built here on first use:
#   (cd benches/peers/h1 && cargo build --release).
#   PEERS=dir takes the binaries from dir/servers/target/release and
#   dir/pipeline.lua instead (an outside harness of that layout).
# Run (from the repository root):
#   benches/scripts/callgrind_peers.sh                 # all three, 64 connections
#   benches/scripts/callgrind_peers.sh hyper_ct        # some of them
#   CONNS=1 DUR=4s benches/scripts/callgrind_peers.sh
#   CONNS=64 benches/scripts/callgrind_per_request.sh  # greenloop, to compare
set -euo pipefail
cd "$(dirname "$0")/../.."
DUR="${DUR:-4s}"
CONNS="${CONNS:-64}"
PORT="${PORT:-18680}"
if [ -n "${PEERS:-}" ]; then
  PEER_BIN="${PEER_BIN:-$PEERS/servers/target/release}"
  PIPELINE="${PIPELINE:-$PEERS/pipeline.lua}"
else
  PEER_BIN="${PEER_BIN:-benches/peers/h1/target/release}"
  PIPELINE="${PIPELINE:-benches/scripts/pipeline.lua}"
  for b in floor_mio hyper_ct may_mini; do
    [ -x "$PEER_BIN/$b" ] || { cargo build --release --quiet --manifest-path benches/peers/h1/Cargo.toml; break; }
  done
fi
[ -f "$PIPELINE" ] || { echo "$PIPELINE: no wrk pipelining script (set PIPELINE)" >&2; exit 1; }
for tool in wrk valgrind callgrind_annotate curl; do
  command -v "$tool" >/dev/null || { echo "$tool not found (apt-get install -y wrk valgrind curl)" >&2; exit 1; }
done
[ "$#" -gt 0 ] || set -- floor_mio hyper_ct may_mini
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT

# The peers have no SIGINT handler; SIGTERM ends them (callgrind_load.sh).
STOP_SIGNAL=TERM
# shellcheck source=callgrind_load.sh
. benches/scripts/callgrind_load.sh

printf '%-10s %-10s %10s %14s %12s   (%s connection(s), %s)\n' server load requests instructions "instr/req" "$CONNS" "$DUR"
for peer in "$@"; do
  bin="$PEER_BIN/$peer"
  [ -x "$bin" ] || { echo "$bin: no such executable" >&2; exit 1; }
  for load in plaintext pipelined; do
    PORT=$((PORT + 1))
    read -r n total < <(callgrind_load "$load" "$PORT" "$OUT/cg.$peer.$load" "$bin" "$PORT") || true
    if [ -z "${n:-}" ] || [ -z "${total:-}" ] || [ "$n" -eq 0 ]; then
      echo "$peer $load: no requests counted (did $bin answer on 127.0.0.1:$PORT?)" >&2
      exit 1
    fi
    printf '%-10s %-10s %10s %14s %12s\n' "$peer" "$load" "$n" "$total" "$((total / n))"
  done
done
