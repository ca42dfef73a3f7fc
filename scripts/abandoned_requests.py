#!/usr/bin/env python3
"""Abandoned database requests against a running demo: do they keep the pool?

Sends N `GET /db/sleep?ms=5000` whose clients close their connection as soon
as the request is written (or `--hold` seconds later, while the queries run), then one `GET /db/sleep?ms=10` that a client waits
for, and reports its status and time, and how many `pg_sleep` queries
Postgres still runs (pg_stat_activity, through psql) after a short while.

    cargo run -- --postgres postgres://root@127.0.0.1/test --db-pool 16 --quiet &
    python3 scripts/abandoned_requests.py [--url http://127.0.0.1:8000] [-n 20] [--rounds 5] [--hold 0.5]
"""

import argparse
import socket
import subprocess
import time
import urllib.parse


def abandon(host, port, n, hold):
    socks = []
    for _ in range(n):
        s = socket.create_connection((host, port))
        s.sendall(b"GET /db/sleep?ms=5000 HTTP/1.1\r\nHost: x\r\n\r\n")
        socks.append(s)
    time.sleep(hold)
    for s in socks:
        s.close()


def legit(host, port):
    started = time.monotonic()
    s = socket.create_connection((host, port), timeout=30)
    s.sendall(b"GET /db/sleep?ms=10 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    status = data.split(b" ", 2)[1].decode() if data else "none"
    return status, time.monotonic() - started


def sleeping(dsn):
    sql = "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep%' AND state = 'active'"
    out = subprocess.run(["psql", dsn, "-Atc", sql], capture_output=True, text=True)
    return out.stdout.strip() or out.stderr.strip()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--url", default="http://127.0.0.1:8000")
    p.add_argument("-n", type=int, default=20)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--dsn", default="postgres://root@127.0.0.1/test")
    p.add_argument("--hold", type=float, default=0.0,
                   help="seconds the abandoning clients keep their connection open (0: close at once; "
                   "0.5: the queries are running in Postgres when they leave)")
    a = p.parse_args()
    u = urllib.parse.urlparse(a.url)
    for r in range(a.rounds):
        abandon(u.hostname, u.port or 80, a.n, a.hold)
        time.sleep(0.2)
        status, took = legit(u.hostname, u.port or 80)
        still = sleeping(a.dsn)
        print(f"round {r + 1}: legit /db/sleep?ms=10 -> {status} in {took * 1000:.0f} ms; "
              f"pg_sleep queries still running: {still}")
        time.sleep(5.5)


if __name__ == "__main__":
    main()
