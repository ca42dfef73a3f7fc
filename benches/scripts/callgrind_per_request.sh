#!/usr/bin/env bash
# Measures: user-space instructions per request of the greenloop server
#   (GET /plaintext, one request at a time per connection, then 16 pipelined),
#   counted by callgrind: the figure a noisy machine does not move, so a
#   change of a few percent shows. Start-up and shutdown are included (well
#   under 1% at the request counts reached); kernel time is not (every build
#   makes one recv and one send per request).
# Needs: wrk, valgrind (callgrind, callgrind_annotate), curl
#   (apt-get install -y wrk valgrind curl); a release build
#   (cargo build --release). The pipelined load sends 16 requests per write
#   with benches/scripts/pipeline.lua (PIPELINE=file for another script;
#   PEERS=dir takes dir/pipeline.lua, an outside peers harness's).
#   The peer servers are measured the same way by callgrind_peers.sh.
# Run (from the repository root):
#   benches/scripts/callgrind_per_request.sh                      # target/release/greenloop
#   benches/scripts/callgrind_per_request.sh /tmp/greenloop-old   # another build, to compare
#   CONNS=64 benches/scripts/callgrind_per_request.sh              # 64 connections (default 1)
#   DUR=4s sets the length of each load.
#   REQUEST_IDS=1 keeps the demo's X-Request-Id middleware (off by default, as
#   the peers compared have none; a build that predates it has none either).
#   COMPRESSION=1 keeps the demo's compression middleware (off here, likewise).
#   GREENLOOP_WATCHDOG_MS (default here 10000) is the watchdog's threshold.
set -euo pipefail
BIN="$(realpath "${1:-$(dirname "$0")/../../target/release/greenloop}")"
cd "$(dirname "$0")/../.."
DUR="${DUR:-4s}"
CONNS="${CONNS:-1}"
PORT="${PORT:-18580}"
PIPELINE="${PIPELINE:-${PEERS:+$PEERS/pipeline.lua}}"
PIPELINE="${PIPELINE:-benches/scripts/pipeline.lua}"
[ -x "$BIN" ] || { echo "$BIN: no such executable (cargo build --release?)" >&2; exit 1; }
[ -f "$PIPELINE" ] || { echo "$PIPELINE: no wrk pipelining script (set PIPELINE)" >&2; exit 1; }
for tool in wrk valgrind callgrind_annotate curl; do
  command -v "$tool" >/dev/null || { echo "$tool not found (apt-get install -y wrk valgrind curl)" >&2; exit 1; }
done
# Under valgrind a turn of the loop can take longer than the watchdog's
# 20 ms; it would then capture and symbolise a stack (hundreds of millions
# of instructions, in proportion to how loaded the machine is, not to the
# requests). A threshold no turn reaches keeps its per-turn bookkeeping
# counted and its reports out.
export GREENLOOP_WATCHDOG_MS="${GREENLOOP_WATCHDOG_MS:-10000}"
ARGS=(--quiet)
if [ -z "${REQUEST_IDS:-}" ] && "$BIN" --help 2>/dev/null | grep -q -- --no-request-ids; then
  ARGS+=(--no-request-ids)
fi
# The same for the compression middleware (on in the demo by default): the
# figure is the server's own path; COMPRESSION=1 measures it with it.
if [ -z "${COMPRESSION:-}" ] && "$BIN" --help 2>/dev/null | grep -q -- --no-compression; then
  ARGS+=(--no-compression)
fi
OUT="$(mktemp -d)"
trap 'rm -rf "$OUT"' EXIT

# shellcheck source=callgrind_load.sh
. benches/scripts/callgrind_load.sh

printf '%-10s %10s %14s %12s   (%s, %s connection(s))\n' load requests instructions "instr/req" "$BIN" "$CONNS"
for load in plaintext pipelined; do
  PORT=$((PORT + 1))
  read -r n total < <(callgrind_load "$load" "$PORT" "$OUT/cg.$load" "$BIN" --bind "127.0.0.1:$PORT" "${ARGS[@]}") || true
  if [ -z "${n:-}" ] || [ -z "${total:-}" ] || [ "$n" -eq 0 ]; then
    echo "$load: no requests counted (did $BIN answer on 127.0.0.1:$PORT?)" >&2
    exit 1
  fi
  printf '%-10s %10s %14s %12s\n' "$load" "$n" "$total" "$((total / n))"
done
