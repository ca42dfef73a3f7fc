#!/usr/bin/env bash
# Measures: a static file over keep-alive HTTP/1.1, greenloop's ServeDir against nginx
#   (`sendfile on`), one worker each, in one run, side by side. Both servers are pinned to
#   CPU 0 and wrk to CPU 1; the two servers take turns (ROUNDS rounds), and the median
#   requests/s of each is printed after the rounds.
#   greenloop runs with --no-compression (nginx's gzip is off by default, and the file is
#   binary anyway) and --quiet (nginx: access_log off).
# Needs: nginx (nginx-light), curl, taskset; wrk is installed from Debian when missing
#   (as root); a release build (cargo build --release).
# Run (from the repository root):
#   benches/scripts/static_vs_nginx.sh            # SIZE=65536 bytes, DUR=5s, CONNS=50, ROUNDS=3
set -euo pipefail
BIN="$(realpath "${1:-$(dirname "$0")/../../target/release/greenloop}")"
SIZE="${SIZE:-65536}"
DUR="${DUR:-5s}"
CONNS="${CONNS:-50}"
ROUNDS="${ROUNDS:-3}"
GL_PORT="${GL_PORT:-18480}"
NG_PORT="${NG_PORT:-18481}"
[ -x "$BIN" ] || { echo "$BIN: no such executable (cargo build --release?)" >&2; exit 1; }
if ! command -v wrk >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi
for tool in wrk nginx curl taskset; do
  command -v "$tool" >/dev/null || { echo "$tool not found" >&2; exit 1; }
done
OUT="$(mktemp -d)"
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$OUT"' EXIT

mkdir -p "$OUT/www"
head -c "$SIZE" /dev/urandom >"$OUT/www/file.bin"
# nginx's worker runs as another user when started as root: it must reach the file.
chmod 755 "$OUT" "$OUT/www"
chmod 644 "$OUT/www/file.bin"

taskset -c 0 "$BIN" --bind "127.0.0.1:$GL_PORT" --workers 1 --quiet --no-compression \
  --static "$OUT/www" 2>"$OUT/greenloop.log" &
pids+=($!)
mkdir -p "$OUT/nginx"
cat >"$OUT/nginx.conf" <<CONF
worker_processes 1;
pid $OUT/nginx.pid;
error_log $OUT/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  client_body_temp_path $OUT/nginx; proxy_temp_path $OUT/nginx; fastcgi_temp_path $OUT/nginx;
  uwsgi_temp_path $OUT/nginx; scgi_temp_path $OUT/nginx;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$NG_PORT;
    location /static/ { alias $OUT/www/; }
  }
}
CONF
taskset -c 0 nginx -c "$OUT/nginx.conf" -g 'daemon off;' &
pids+=($!)
for port in "$GL_PORT" "$NG_PORT"; do
  for _ in $(seq 50); do
    curl -sf "http://127.0.0.1:$port/static/file.bin" -o "$OUT/check.$port" && break
    sleep 0.1
  done
  cmp -s "$OUT/check.$port" "$OUT/www/file.bin" || { echo "port $port did not serve the file" >&2; exit 1; }
done

rps() { grep -E '^Requests/sec' | awk '{print $2}'; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "GET /static/file.bin ($SIZE bytes), wrk -t1 -c$CONNS -d$DUR on CPU 1, servers on CPU 0"
: >"$OUT/greenloop.rps"
: >"$OUT/nginx.rps"
for round in $(seq "$ROUNDS"); do
  for name in greenloop nginx; do
    port=$GL_PORT; [ "$name" = nginx ] && port=$NG_PORT
    r=$(taskset -c 1 wrk -t1 -c"$CONNS" -d"$DUR" "http://127.0.0.1:$port/static/file.bin" | rps)
    echo "$r" >>"$OUT/$name.rps"
    printf "round %d  %-10s %12s req/s\n" "$round" "$name" "$r"
  done
done
printf "median     %-10s %12s req/s\n" greenloop "$(median <"$OUT/greenloop.rps")"
printf "median     %-10s %12s req/s\n" nginx "$(median <"$OUT/nginx.rps")"
echo "greenloop watchdog warnings during the loads: $(grep -c 'held the loop' "$OUT/greenloop.log" || true)"
