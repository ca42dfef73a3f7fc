#!/usr/bin/env bash
# Measures: a static file over keep-alive HTTP/1.1, greenloop's ServeDir against nginx
#   (`sendfile on`), one worker each, in one run, side by side. Both servers are pinned to
#   CPU 0 and wrk to CPU 1; the two servers take turns (ROUNDS rounds), and the medians
#   of each are printed after the rounds: requests/s, and server CPU time (user + system,
#   from /proc, nginx's master and worker together) per request, the figure that other
#   load on the machine disturbs least.
#   greenloop runs with --no-compression (nginx's gzip is off by default, and the file is
#   binary anyway) and --quiet (nginx: access_log off).
# Needs: nginx (nginx-light), curl, taskset; wrk is installed from Debian when missing
#   (as root); a release build (cargo build --release).
# Run (from the repository root):
#   benches/scripts/static_vs_nginx.sh            # SIZE=65536 bytes, DUR=5s, CONNS=50, ROUNDS=3
set -euo pipefail
# shellcheck source=nginx_peer.sh
. "$(dirname "$0")/nginx_peer.sh"
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
gl_pid=$!
pids+=($gl_pid)
{ nginx_conf_head "$OUT"; cat <<CONF
  sendfile on;
  server {
    listen 127.0.0.1:$NG_PORT;
    location /static/ { alias $OUT/www/; }
  }
}
CONF
} >"$OUT/nginx.conf"
taskset -c 0 nginx -c "$OUT/nginx.conf" -g 'daemon off;' &
ng_pid=$!
pids+=($ng_pid)
for port in "$GL_PORT" "$NG_PORT"; do
  for _ in $(seq 50); do
    curl -sf "http://127.0.0.1:$port/static/file.bin" -o "$OUT/check.$port" && break
    sleep 0.1
  done
  cmp -s "$OUT/check.$port" "$OUT/www/file.bin" || { echo "port $port did not serve the file" >&2; exit 1; }
done

# CPU ticks (user + system) of a process and its children processes (nginx's workers).
ticks() {
  local total=0 p
  for p in "$1" $(pgrep -P "$1" || true); do
    total=$((total + $(awk '{print $14 + $15}' "/proc/$p/stat")))
  done
  echo "$total"
}
HZ=$(getconf CLK_TCK)
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "GET /static/file.bin ($SIZE bytes), wrk -t1 -c$CONNS -d$DUR on CPU 1, servers on CPU 0"
for name in greenloop nginx; do : >"$OUT/$name.rps"; : >"$OUT/$name.cpu"; done
for round in $(seq "$ROUNDS"); do
  for name in greenloop nginx; do
    port=$GL_PORT; pid=$gl_pid
    [ "$name" = nginx ] && { port=$NG_PORT; pid=$ng_pid; }
    before=$(ticks "$pid")
    taskset -c 1 wrk -t1 -c"$CONNS" -d"$DUR" "http://127.0.0.1:$port/static/file.bin" >"$OUT/wrk.txt"
    after=$(ticks "$pid")
    r=$(awk '/^Requests\/sec/ {print $2}' "$OUT/wrk.txt")
    n=$(awk '/requests in/ {print $1}' "$OUT/wrk.txt")
    us=$(awk -v t=$((after - before)) -v hz="$HZ" -v n="$n" 'BEGIN {printf "%.2f", t / hz * 1e6 / n}')
    echo "$r" >>"$OUT/$name.rps"
    echo "$us" >>"$OUT/$name.cpu"
    printf "round %d  %-10s %12s req/s %8s µs CPU/req\n" "$round" "$name" "$r" "$us"
  done
done
for name in greenloop nginx; do
  printf "median     %-10s %12s req/s %8s µs CPU/req\n" "$name" "$(median <"$OUT/$name.rps")" "$(median <"$OUT/$name.cpu")"
done
echo "greenloop watchdog warnings during the loads: $(grep -c 'held the loop' "$OUT/greenloop.log" || true)"
