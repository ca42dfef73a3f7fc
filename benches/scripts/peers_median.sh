#!/usr/bin/env bash
# Measures: server CPU per request (user + system µs), plaintext and
#   16-deep pipelined, as the median and range of several interleaved rounds
#   for greenloop and the peer servers: rounds taken in turn expose every
#   server to the same drift of a noisy machine.
# Needs: wrk (apt-get install -y wrk), taskset, a release build
#   (cargo build --release), and the peer servers of benches/peers/h1
#   (floor_mio, hyper_ct, may_mini), built here on first use:
#   (cd benches/peers/h1 && cargo build --release). The pipelined load is
#   benches/scripts/pipeline.lua. PEERS=dir takes the peers from
#   dir/servers/target/release and dir/pipeline.lua instead (an outside
#   harness of that layout); there a peer that is not built is skipped.
# Run (from the repository root):
#   benches/scripts/peers_median.sh          # greenloop, floor_mio, hyper_ct, may_mini; 5 rounds
#   ROUNDS=9 DUR=3s benches/scripts/peers_median.sh
#   benches/scripts/peers_median.sh 'old:/tmp/greenloop-old --bind 127.0.0.1:{port} --quiet'   # add servers
# The server is pinned to CPU 1 and wrk to CPU 0.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROUNDS="${ROUNDS:-5}"
DUR="${DUR:-3s}"
PORT="${PORT:-18480}"
HZ="$(getconf CLK_TCK)"
if [ -n "${PEERS:-}" ]; then
  REL="$PEERS/servers/target/release"
  PIPELINE="${PIPELINE:-$PEERS/pipeline.lua}"
else
  REL="$PWD/benches/peers/h1/target/release"
  PIPELINE="${PIPELINE:-benches/scripts/pipeline.lua}"
  for b in floor_mio hyper_ct may_mini; do
    [ -x "$REL/$b" ] || { cargo build --release --quiet --manifest-path benches/peers/h1/Cargo.toml; break; }
  done
fi

command -v wrk >/dev/null || { echo "wrk not found (apt-get install -y wrk)" >&2; exit 1; }
# greenloop's demo without its request-id and compression middleware, as
# callgrind_per_request.sh runs it: the peers make no ids and compress nothing.
SERVERS=("greenloop:$PWD/target/release/greenloop --bind 127.0.0.1:{port} --quiet --no-request-ids --no-compression")
for b in floor_mio hyper_ct may_mini; do
  [ -x "$REL/$b" ] && SERVERS+=("$b:$REL/$b {port}") || echo "skip $b: not built" >&2
done
for extra in "$@"; do SERVERS+=("$extra"); done

ticks() { awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
# measure PID SCRIPT_ARGS... -> µs of server CPU per request for one wrk run
measure() {
  local pid="$1"; shift
  local t0 t1 n
  t0="$(ticks "$pid")"
  n="$(taskset -c 0 wrk -t1 -c64 -d"$DUR" "$@" | awk '/requests in/ { print $1 }')"
  t1="$(ticks "$pid")"
  awk -v a="$t0" -v b="$t1" -v n="$n" -v hz="$HZ" 'BEGIN { printf "%.2f", (b - a) * 1e6 / hz / n }'
}

OUT="$(mktemp)"
trap 'rm -f "$OUT"' EXIT
for round in $(seq "$ROUNDS"); do
  for spec in "${SERVERS[@]}"; do
    name="${spec%%:*}"
    cmd="${spec#*:}"
    cmd="${cmd//\{port\}/$PORT}"
    taskset -c 1 bash -c "exec $cmd" >/dev/null 2>&1 &
    pid=$!
    for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done
    url="http://127.0.0.1:$PORT/plaintext"
    # Warm up: connections, stacks and buffers set up once, not measured.
    taskset -c 0 wrk -t1 -c64 -d1s "$url" >/dev/null
    plain="$(measure "$pid" "$url")"
    pipe="$(measure "$pid" -s "$PIPELINE" "$url" -- 16)"
    kill "$pid"; wait "$pid" 2>/dev/null || true
    echo "$name $plain $pipe" >>"$OUT"
    echo "round $round: $name plaintext $plain µs/req, pipelined $pipe µs/req" >&2
  done
done

echo "server        plaintext µs/req (median, min-max)   pipelined x16 µs/req (median, min-max)   rounds=$ROUNDS dur=$DUR"
for spec in "${SERVERS[@]}"; do
  name="${spec%%:*}"
  stats() { awk -v s="$name" -v col="$1" '$1 == s { print $col }' "$OUT" | sort -g |
    awk '{ v[NR] = $1 } END { printf "%.2f (%.2f-%.2f)", (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2), v[1], v[NR] }'; }
  printf "%-13s %-38s %s\n" "$name" "$(stats 2)" "$(stats 3)"
done
