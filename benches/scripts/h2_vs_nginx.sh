#!/usr/bin/env bash
# Measures: HTTP/2 on one worker, greenloop against nginx (one worker) and
#   hyper (one current-thread tokio runtime; h2c only), in one run, side by
#   side, with h2load (10 connections, 10 concurrent streams each:
#   `-c 10 -m 10`) on GET /plaintext ("Hello, World!"):
#   - h2c: cleartext HTTP/2 by prior knowledge;
#   - h2 over TLS (ALPN), the same ECDSA P-256 certificate for greenloop and nginx.
#   The hyper peer is benches/peers/hyper_h2 (built here on first use; set
#   HYPER_H2=path to use another build, or HYPER_H2=none to leave it out).
# Needs: h2load (nghttp2-client), nginx (nginx-light, built with http_v2),
#   openssl, curl; a release build (cargo build --release).
# Run (from the repository root):
#   benches/scripts/h2_vs_nginx.sh            # N=200000 requests per load
set -euo pipefail
# shellcheck source=nginx_peer.sh
. "$(dirname "$0")/nginx_peer.sh"
BIN="$(realpath "${1:-$(dirname "$0")/../../target/release/greenloop}")"
N="${N:-200000}"
GL_PORT="${GL_PORT:-18480}"
GL_TLS_PORT="${GL_TLS_PORT:-18481}"
NG_PORT="${NG_PORT:-18482}"
NG_TLS_PORT="${NG_TLS_PORT:-18483}"
HY_PORT="${HY_PORT:-18484}"
HYPER_H2="${HYPER_H2:-}"
if [ -z "$HYPER_H2" ]; then
  cargo build --release --quiet --manifest-path "$(dirname "$0")/../peers/hyper_h2/Cargo.toml"
  HYPER_H2="$(dirname "$0")/../peers/hyper_h2/target/release/hyper_h2_peer"
fi
[ -x "$BIN" ] || { echo "$BIN: no such executable (cargo build --release?)" >&2; exit 1; }
for tool in h2load nginx openssl curl; do
  command -v "$tool" >/dev/null || { echo "$tool not found" >&2; exit 1; }
done
OUT="$(mktemp -d)"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$OUT"' EXIT

# A private CA and a leaf for localhost signed by it (no key is kept).
bench_cert "$OUT"

"$BIN" --bind "127.0.0.1:$GL_PORT" --quiet 2>"$OUT/greenloop.log" &
pids+=($!)
"$BIN" --bind "127.0.0.1:$GL_TLS_PORT" --tls-cert "$OUT/cert.pem" --tls-key "$OUT/key.pem" --quiet \
  2>"$OUT/greenloop-tls.log" &
pids+=($!)
# nginx 1.25.1 and later say `http2 on;`; older ones (Debian 12's 1.22) take it on `listen`.
if nginx -V 2>&1 | grep -qE 'nginx/1\.(2[5-9]|[3-9][0-9])'; then
  h2_listen=""; h2_on="http2 on;"
else
  h2_listen=" http2"; h2_on=""
fi
{ nginx_conf_head "$OUT"; cat <<CONF
  http2_max_requests 1000000;
  server {
    listen 127.0.0.1:$NG_PORT$h2_listen;
    listen 127.0.0.1:$NG_TLS_PORT ssl$h2_listen;
    $h2_on
    ssl_certificate $OUT/cert.pem;
    ssl_certificate_key $OUT/key.pem;
    location / { default_type text/plain; return 200 "Hello, World!"; }
  }
}
CONF
} >"$OUT/nginx.conf"
nginx -c "$OUT/nginx.conf" -g 'daemon off;' 2>"$OUT/nginx-start.log" &
pids+=($!)
servers=(greenloop nginx)
h2c_urls=("http://127.0.0.1:$GL_PORT" "http://127.0.0.1:$NG_PORT")
if [ "$HYPER_H2" != none ]; then
  "$HYPER_H2" "$HY_PORT" &
  pids+=($!)
  servers+=(hyper)
  h2c_urls+=("http://127.0.0.1:$HY_PORT")
fi
for url in "${h2c_urls[@]}"; do
  for _ in $(seq 100); do curl -sf --http2-prior-knowledge "$url/plaintext" >/dev/null && break; sleep 0.1; done
  curl -sf --http2-prior-knowledge "$url/plaintext" >/dev/null || { echo "$url does not answer h2c" >&2; exit 1; }
done
for url in "https://127.0.0.1:$GL_TLS_PORT" "https://127.0.0.1:$NG_TLS_PORT"; do
  for _ in $(seq 100); do curl -sf --http2 --cacert "$OUT/ca.pem" "$url/plaintext" >/dev/null && break; sleep 0.1; done
  curl -sf --http2 --cacert "$OUT/ca.pem" "$url/plaintext" >/dev/null || { echo "$url does not answer h2" >&2; exit 1; }
done

# h2load's "finished in Xs, Y req/s" line, and its success count.
load() {
  local out
  out=$(h2load -n "$N" -c 10 -m 10 "$1")
  echo "$(echo "$out" | grep -E '^finished in' | sed -E 's/.* ([0-9.]+) req\/s.*/\1/') $(echo "$out" | grep -E 'succeeded' | sed -E 's/.* ([0-9]+) succeeded.*/\1/')"
}
echo "h2load -n $N -c 10 -m 10, GET /plaintext, one worker each"
printf "%-10s %16s %20s\n" server "h2c req/s" "h2 over TLS req/s"
for name in "${servers[@]}"; do
  port=$GL_PORT; tls=$GL_TLS_PORT
  [ "$name" = nginx ] && { port=$NG_PORT; tls=$NG_TLS_PORT; }
  [ "$name" = hyper ] && { port=$HY_PORT; tls=; }
  read -r plain ok1 <<<"$(load "http://127.0.0.1:$port/plaintext")"
  secure=-; ok2=$N
  [ -n "$tls" ] && read -r secure ok2 <<<"$(load "https://127.0.0.1:$tls/plaintext")"
  [ "$ok1" = "$N" ] && [ "$ok2" = "$N" ] || echo "$name: not every request succeeded ($ok1, $ok2 of $N)" >&2
  printf "%-10s %16s %20s\n" "$name" "$plain" "$secure"
done
