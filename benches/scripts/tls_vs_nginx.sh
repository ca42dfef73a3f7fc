#!/usr/bin/env bash
# Measures: HTTPS on one worker, greenloop against nginx (one worker) with
#   the same ECDSA P-256 certificate, in one run, side by side:
#   - new TLS connections per second: every request on a new connection
#     (`Connection: close`), so each pays a full handshake;
#   - keep-alive requests per second over TLS (GET /plaintext, 50 connections);
#   - greenloop's watchdog warnings during the handshake burst (a handshake
#     runs on the loop: did one hold it past the 20 ms threshold?).
# Needs: wrk (built with OpenSSL, as Debian's is), nginx (nginx-light), openssl,
#   curl; a release build (cargo build --release).
# Run (from the repository root):
#   benches/scripts/tls_vs_nginx.sh            # DUR=5s per load, CONNS=50
set -euo pipefail
# shellcheck source=nginx_peer.sh
. "$(dirname "$0")/nginx_peer.sh"
BIN="$(realpath "${1:-$(dirname "$0")/../../target/release/greenloop}")"
DUR="${DUR:-5s}"
CONNS="${CONNS:-50}"
GL_PORT="${GL_PORT:-18443}"
NG_PORT="${NG_PORT:-18444}"
[ -x "$BIN" ] || { echo "$BIN: no such executable (cargo build --release?)" >&2; exit 1; }
for tool in wrk nginx openssl curl; do
  command -v "$tool" >/dev/null || { echo "$tool not found" >&2; exit 1; }
done
OUT="$(mktemp -d)"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$OUT"' EXIT

# A private CA and a leaf for localhost signed by it (no key is kept).
bench_cert "$OUT"

GREENLOOP_LOG=warn "$BIN" --bind "127.0.0.1:$GL_PORT" --tls-cert "$OUT/cert.pem" --tls-key "$OUT/key.pem" \
  --quiet 2>"$OUT/greenloop.log" &
pids+=($!)
{ nginx_conf_head "$OUT"; cat <<CONF
  server {
    listen 127.0.0.1:$NG_PORT ssl;
    ssl_certificate $OUT/cert.pem;
    ssl_certificate_key $OUT/key.pem;
    ssl_session_cache off;
    ssl_session_tickets off;
    location / { default_type text/plain; return 200 "Hello, World!"; }
  }
}
CONF
} >"$OUT/nginx.conf"
nginx -c "$OUT/nginx.conf" -g 'daemon off;' &
pids+=($!)
for port in "$GL_PORT" "$NG_PORT"; do
  for _ in $(seq 50); do
    curl -sf --cacert "$OUT/ca.pem" "https://localhost:$port/plaintext" >/dev/null && break
    sleep 0.1
  done
done

rps() { grep -E '^Requests/sec' | awk '{print $2}'; }
printf "%-10s %22s %26s\n" server "handshakes/s (close)" "keep-alive req/s over TLS"
for name in greenloop nginx; do
  port=$GL_PORT; [ "$name" = nginx ] && port=$NG_PORT
  hs=$(wrk -t1 -c"$CONNS" -d"$DUR" -H "Connection: close" "https://localhost:$port/plaintext" | rps)
  ka=$(wrk -t1 -c"$CONNS" -d"$DUR" "https://localhost:$port/plaintext" | rps)
  printf "%-10s %22s %26s\n" "$name" "$hs" "$ka"
done
echo "greenloop watchdog warnings during the loads: $(grep -c 'held the loop' "$OUT/greenloop.log" || true)"
grep 'held the loop' "$OUT/greenloop.log" | head -3 || true
