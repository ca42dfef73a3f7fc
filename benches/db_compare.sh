#!/usr/bin/env bash
# Database figures for docs/DATABASES.md, one run side by side:
#   1. SELECT 1 queries/s on one thread, one connection: greenloop::postgres,
#      tokio-postgres on a current-thread tokio runtime, the sync postgres crate;
#   2. Redis INCR/s through greenloop::redis (1 and 50 connections, one
#      thread) against redis-benchmark (-c 1 and -c 50, no pipelining);
#   3. 50 x SELECT pg_sleep(1) at once: green connections versus offload +
#      the sync postgres crate (wall time, peak OS threads);
#   4. the demo server: 50 concurrent GET /db/sleep?ms=1000 on one worker
#      (the first request of each user also opens its pooled connection).
# Needs Postgres and Redis (URLs from GREENLOOP_TEST_POSTGRES and
# GREENLOOP_TEST_REDIS, local defaults otherwise) and redis-benchmark.
# Usage: benches/db_compare.sh [SECONDS per SELECT 1 run, default 5]
set -euo pipefail
cd "$(dirname "$0")/.."
PG=${GREENLOOP_TEST_POSTGRES:-postgres://postgres@127.0.0.1:5432/test}
REDIS=${GREENLOOP_TEST_REDIS:-redis://127.0.0.1:6379}
SECS=${1:-5}
N=200000
hostport=${REDIS#redis://}; hostport=${hostport%%/*}
RHOST=${hostport%%:*}; RPORT=${hostport##*:}; [ "$RPORT" = "$hostport" ] && RPORT=6379

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-target}
cargo build --release --quiet --manifest-path benches/db_compare/Cargo.toml
cargo build --release --quiet --features postgres,redis --bin greenloop
BIN=$CARGO_TARGET_DIR/release/db_compare
[ -x "$BIN" ] || BIN=benches/db_compare/$CARGO_TARGET_DIR/release/db_compare

echo "== machine: $(nproc) cores, $(uname -sr); Postgres $(psql "$PG" -Atc 'SHOW server_version' 2>/dev/null || echo '?'), $(redis-server --version 2>/dev/null | awk '{print $3}')"
echo "== 1. SELECT 1 on one thread, ${SECS} s each"
"$BIN" pg-select1 "$PG" "$SECS"
echo "== 2. Redis INCR, $N operations"
"$BIN" redis-incr "$REDIS" "$N" 1
"$BIN" redis-incr "$REDIS" "$N" 50
for c in 1 50; do
    printf 'INCR, redis-benchmark -c %-2s:                        ' "$c"
    redis-benchmark -h "$RHOST" -p "$RPORT" -t incr -n "$N" -c "$c" -q | tr '\r' '\n' | grep '^INCR:' | tail -1
done
echo "== 3. 50 x pg_sleep(1) at once"
"$BIN" pg-sleep50 "$PG"
echo "== 4. demo server: 50 users GET /db/sleep?ms=1000 at once (greenloop swarm), one worker, pool 64"
BIN_DEMO=$CARGO_TARGET_DIR/release/greenloop
"$BIN_DEMO" --bind 127.0.0.1:0 --workers 1 --quiet --postgres "$PG" --db-pool 64 2> /tmp/db_compare_demo.log &
DEMO=$!
trap 'kill $DEMO 2>/dev/null || true' EXIT
for _ in $(seq 50); do grep -q 'serving on' /tmp/db_compare_demo.log && break; sleep 0.1; done
URL=$(grep -o 'http://[0-9.:]*' /tmp/db_compare_demo.log | head -1)
# Each user sends one request and waits for it; --duration 0.5 starts no second round.
"$BIN_DEMO" swarm "$URL/db/sleep?ms=1000" --users 50 --duration 0.5 2>/dev/null
