#!/usr/bin/env python3
"""Measures: the resident memory of idle keep-alive connections on one
greenloop worker. N clients each make one request (GET /plaintext) and keep
their connection open; the server's VmRSS is read before the crowd, then
after it has been idle for SETTLE seconds (past `--idle-stackless-after`,
so the connections sleep without their green threads, and the stack pool
has given back the stacks they no longer need).

Run twice to compare, from the repository root, with a release build:
  benches/scripts/idle_keepalive.py                      # default: asleep after 250 ms
  ARGS="--idle-stackless-after off" benches/scripts/idle_keepalive.py
  N=2000 benches/scripts/idle_keepalive.py PATH          # another size or build
Needs `ulimit -n` above N + 100 (raised here up to the hard limit).
"""

import os
import resource
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from procfs import rss_kib  # noqa: E402

N = int(os.environ.get("N", "10000"))
SETTLE = float(os.environ.get("SETTLE", "3"))
BIN = sys.argv[1] if len(sys.argv) > 1 else "target/release/greenloop"
PORT = int(os.environ.get("PORT", "18591"))
ARGS = os.environ.get("ARGS", "").split()
REQUEST = b"GET /plaintext HTTP/1.1\r\nHost: bench\r\n\r\n"



def one_request(s):
    s.sendall(REQUEST)
    got = b""
    while b"\r\n\r\n" not in got:
        chunk = s.recv(4096)
        if not chunk:
            raise RuntimeError("closed before answering")
        got += chunk
    head, _, body = got.partition(b"\r\n\r\n")
    length = next(int(l.split(b":")[1]) for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:"))
    while len(body) < length:
        body += s.recv(4096)


def wait_ready():
    for _ in range(200):
        try:
            with socket.create_connection(("127.0.0.1", PORT), timeout=1) as s:
                one_request(s)
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("the server did not start")


soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, N + 1000)), hard))
server = subprocess.Popen(
    [BIN, "--bind", f"127.0.0.1:{PORT}", "--quiet", "--workers", "1", "--max-connections", str(N + 100)] + ARGS,
    stderr=subprocess.DEVNULL)
try:
    wait_ready()
    time.sleep(0.5)
    before = rss_kib(server.pid)
    conns = []
    for _ in range(N):
        s = socket.create_connection(("127.0.0.1", PORT), timeout=10)
        one_request(s)
        conns.append(s)
    busy = rss_kib(server.pid)
    time.sleep(SETTLE)
    after = rss_kib(server.pid)
    per = (after - before) * 1024 / N
    print(f"{N} idle keep-alive connections ({' '.join(ARGS) or 'defaults'}): RSS {before} KiB before, "
          f"{busy} KiB just after their requests, {after} KiB after {SETTLE:g} s idle: {per:.0f} B per connection")
    # They still work: every one answers a second request.
    for s in conns:
        one_request(s)
    print(f"all {N} answered a second request")
    for s in conns:
        s.close()
finally:
    server.terminate()
    server.wait()
