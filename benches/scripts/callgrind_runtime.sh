#!/usr/bin/env bash
# Measures: instructions per runtime operation (yield, park+unpark,
#   spawn+join, channel ping-pong), counted by callgrind on the runtime_ops
#   bench target: the operations `cargo bench --bench runtime` times, as a
#   figure that does not move with the machine's noise. Compare two commits
#   by running it in each checkout.
# Needs: valgrind (apt-get install -y valgrind); builds the bench itself.
# Run (from the repository root):
#   benches/scripts/callgrind_runtime.sh            # N = 100000 of each
#   N=20000 benches/scripts/callgrind_runtime.sh
#   FEATURES=tokio benches/scripts/callgrind_runtime.sh   # block_on entering tokio's context
#   FEATURES=tracing OPS="yield yield_in_span" TRACING_SUBSCRIBER=1 benches/scripts/callgrind_runtime.sh
#     # the span slot: switches with a subscriber set, inside a span or not
set -euo pipefail
cd "$(dirname "$0")/../.."
N="${N:-100000}"
command -v valgrind >/dev/null || { echo "valgrind not found (apt-get install -y valgrind)" >&2; exit 1; }
# FEATURES=tokio measures `block_on` with the tokio bridge.
BIN="$(cargo bench --bench runtime_ops ${FEATURES:+--features "$FEATURES"} --no-run --message-format=json |
  sed -n 's/.*"executable":"\([^"]*runtime_ops[^"]*\)".*/\1/p' | tail -1)" || true
[ -x "${BIN:-}" ] || { echo "could not build benches/runtime_ops.rs (cargo's errors above)" >&2; exit 1; }

# instructions OP COUNT -> the program's instruction total
instructions() {
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$BIN" "$1" "$2" 2>&1 >/dev/null |
    awk '/Collected/ { gsub(",", "", $NF); print $NF }'
}

printf '%-9s %12s   (N = %s, %s)\n' op "instr/op" "$N" "$(git rev-parse --short HEAD 2>/dev/null || echo '?')"
for op in ${OPS:-yield park spawn channel block_on}; do
  base="$(instructions "$op" 0)"
  total="$(instructions "$op" "$N")"
  printf '%-9s %12s\n' "$op" "$(((total - base) / N))"
done
