#!/usr/bin/env python3
"""Soak test: memory of the demo server under ten minutes of mixed load.

Measures: the resident memory (VmRSS) of a release `greenloop` every 10 s
  while mixed traffic runs: keep-alive clients, pipelined batches, request
  bodies echoed back, slow clients (heads sent byte by byte, responses read
  slowly), green sleeps, and errors (404, malformed requests, oversized
  heads, connections dropped mid-head and mid-body). Prints one line per
  sample, then a verdict: flat when the last sample is within 10% of the
  sample at minute 1 (exit status 0), growing otherwise (exit status 1).
  Any wrong answer to a well-formed request is counted and also fails it.
Needs: Python 3.8+ (standard library only), Linux (/proc), a release build
  of the demo: cargo build --release --bin greenloop. Not run by CI.
Run (from the repository root):
  benches/scripts/soak.py                        # 10 minutes, target/release/greenloop
  benches/scripts/soak.py --duration 60          # a quick look
  benches/scripts/soak.py --bin /path/greenloop --server-args "--workers 2"
"""

import argparse
import http.client
import os
import random
import re
import shlex
import socket
import subprocess
import sys
import threading
import time

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--bin", default=None, help="the greenloop binary [default: $CARGO_TARGET_DIR or target/release/greenloop]")
parser.add_argument("--duration", type=float, default=600, help="seconds of load [default: 600]")
parser.add_argument("--interval", type=float, default=10, help="seconds between RSS samples [default: 10]")
parser.add_argument("--server-args", default="", help="extra options for the server (default: its defaults, access log on)")
args = parser.parse_args()

root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
binary = args.bin or os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(root, "target")), "release", "greenloop")
if not os.access(binary, os.X_OK):
    sys.exit(f"{binary} not found: cargo build --release --bin greenloop (or pass --bin)")

# Free port: bind, read, release.
with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    PORT = s.getsockname()[1]
HOST = "127.0.0.1"

server = subprocess.Popen(
    [binary, "--bind", f"{HOST}:{PORT}"] + shlex.split(args.server_args),
    stdout=subprocess.DEVNULL,
    stderr=subprocess.DEVNULL,  # the access log: one line per request
)
deadline = time.time() + 20
while True:
    try:
        socket.create_connection((HOST, PORT), timeout=1).close()
        break
    except OSError:
        if server.poll() is not None or time.time() > deadline:
            sys.exit(f"the server did not start (exit status {server.poll()})")
        time.sleep(0.05)

stop = threading.Event()
lock = threading.Lock()
counts = {"ok": 0, "expected_errors": 0, "wrong": 0}
wrong_examples = []


def count(kind, detail=None):
    with lock:
        counts[kind] += 1
        if kind == "wrong" and detail and len(wrong_examples) < 10:
            wrong_examples.append(detail)


def check(resp_status, body, want_status, want_body=None, what=""):
    if resp_status == want_status and (want_body is None or body == want_body):
        count("ok" if want_status < 400 else "expected_errors")
    else:
        count("wrong", f"{what}: {resp_status} {body[:80]!r}")


def conn():
    return http.client.HTTPConnection(HOST, PORT, timeout=30)


def loop(fn):
    """Runs fn until the end, reconnecting after connection-level failures."""

    def run():
        rng = random.Random(threading.get_ident())
        while not stop.is_set():
            try:
                fn(rng)
            except Exception as e:  # noqa: BLE001 - any failure of a client counts
                count("wrong", f"{fn.__name__}: {e!r}")
                time.sleep(0.1)

    t = threading.Thread(target=run, name=fn.__name__, daemon=True)
    t.start()
    return t


def keep_alive(rng):
    c = conn()
    for _ in range(200):
        if stop.is_set():
            break
        path, want = rng.choice([("/plaintext", b"Hello, World!"), ("/json", b'{"message":"Hello, World!"}')])
        c.request("GET", path)
        r = c.getresponse()
        check(r.status, r.read(), 200, want, path)
    c.close()


def read_response(f):
    """One response from a buffered socket file: (status, body). Content-Length framing only."""
    status_line = f.readline()
    if not status_line:
        raise ConnectionError("connection closed before a response")
    status = int(status_line.split()[1])
    length = 0
    while True:
        line = f.readline()
        if line in (b"\r\n", b""):
            break
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return status, f.read(length)


def pipelined(rng):
    n = rng.randint(2, 16)
    with socket.create_connection((HOST, PORT), timeout=30) as s:
        s.sendall(b"GET /plaintext HTTP/1.1\r\nHost: soak\r\n\r\n" * n)
        f = s.makefile("rb")
        for _ in range(n):
            status, body = read_response(f)
            check(status, body, 200, b"Hello, World!", "pipelined")


def bodies(rng):
    c = conn()
    for _ in range(20):
        if stop.is_set():
            break
        size = rng.choice([0, 1, 100, 4096, 65536, rng.randint(1, 1 << 20)])
        body = os.urandom(size)
        if rng.random() < 0.5:
            c.request("POST", "/echo", body=body, headers={"Content-Type": "application/octet-stream"})
        else:
            # Chunked request body, in pieces.
            pieces = [body[i : i + 8192] for i in range(0, len(body), 8192)]
            c.request("POST", "/echo", body=iter(pieces), encode_chunked=True)
        r = c.getresponse()
        check(r.status, r.read(), 200, body, f"echo of {size} bytes")
    c.close()


def slow_client(rng):
    with socket.create_connection((HOST, PORT), timeout=30) as s:
        head = b"GET /plaintext HTTP/1.1\r\nHost: soak\r\nUser-Agent: slow\r\nConnection: close\r\n\r\n"
        for i in range(0, len(head), 4):
            s.sendall(head[i : i + 4])
            time.sleep(0.05)
        data = b""
        while True:
            chunk = s.recv(7)  # read slowly too
            if not chunk:
                break
            data += chunk
            time.sleep(0.001)
        ok = data.startswith(b"HTTP/1.1 200 ") and data.endswith(b"Hello, World!")
        check(200 if ok else 0, data[-13:], 200, None, "slow client")


def sleeper(rng):
    c = conn()
    ms = rng.choice([10, 100, 500, 1000])
    c.request("GET", f"/sleep?ms={ms}")
    r = c.getresponse()
    check(r.status, r.read(), 200, b"slept", "sleep")
    c.close()


def errors(rng):
    kind = rng.randrange(5)
    if kind == 0:
        c = conn()
        c.request("GET", "/nothere")
        r = c.getresponse()
        check(r.status, r.read(), 404, None, "404")
        c.close()
        return
    with socket.create_connection((HOST, PORT), timeout=30) as s:
        if kind == 1:
            s.sendall(b"GE T / HTTP/1.1\r\nHost: soak\r\n\r\n")
            want = (400, 505)  # a malformed request line: 400 (older builds said 505)
        elif kind == 2:
            s.sendall(b"GET / HTTP/1.1\r\nHost: soak\r\nX-Big: " + b"a" * 20000 + b"\r\n\r\n")
            want = (431, 400)
        elif kind == 3:
            s.sendall(b"GET /plaintext HTTP/1.1\r\nHo")  # dropped mid-head
            count("expected_errors")
            return
        else:
            s.sendall(b"POST /echo HTTP/1.1\r\nHost: soak\r\nContent-Length: 100000\r\n\r\n" + b"x" * 1000)
            count("expected_errors")  # dropped mid-body
            return
        data = b""
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        except ConnectionResetError:
            pass
        m = re.match(rb"HTTP/1.1 (\d{3}) ", data)
        status = int(m.group(1)) if m else 0
        if status in want:
            count("expected_errors")
        else:
            count("wrong", f"error kind {kind}: {data[:80]!r}")


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


mix = [(keep_alive, 8), (pipelined, 4), (bodies, 4), (slow_client, 4), (sleeper, 20), (errors, 2)]
print(
    f"soak: {binary} {args.server_args} on {HOST}:{PORT}, {args.duration:.0f} s, "
    + ", ".join(f"{n} {fn.__name__}" for fn, n in mix),
    flush=True,
)
threads = [loop(fn) for fn, n in mix for _ in range(n)]

samples = []  # (seconds since start, RSS KiB)
start = time.time()
next_sample = start
while time.time() - start < args.duration:
    if server.poll() is not None:
        sys.exit(f"the server exited with status {server.returncode} during the soak")
    now = time.time()
    if now >= next_sample:
        kib = rss_kib(server.pid)
        samples.append((now - start, kib))
        with lock:
            c = dict(counts)
        print(
            f"{now - start:6.0f} s  RSS {kib / 1024:7.1f} MiB  ok {c['ok']}  expected errors "
            f"{c['expected_errors']}  wrong {c['wrong']}",
            flush=True,
        )
        next_sample += args.interval
    time.sleep(min(0.5, max(0.0, next_sample - time.time())))

stop.set()
for t in threads:
    t.join(timeout=35)
kib = rss_kib(server.pid)
samples.append((time.time() - start, kib))
server.terminate()
try:
    server.wait(timeout=40)
except subprocess.TimeoutExpired:
    server.kill()

minute1 = next((k for t, k in samples if t >= 60), samples[0][1])
last = samples[-1][1]
peak = max(k for _, k in samples)
change = (last - minute1) / minute1 * 100
flat = abs(change) <= 10
print(
    f"RSS at minute 1: {minute1 / 1024:.1f} MiB; last: {last / 1024:.1f} MiB ({change:+.1f}%); "
    f"peak {peak / 1024:.1f} MiB; {counts['ok']} good responses, {counts['expected_errors']} expected errors, "
    f"{counts['wrong']} wrong"
)
for w in wrong_examples:
    print(f"  wrong: {w}")
print("FLAT" if flat else "NOT FLAT: the last sample is more than 10% away from minute 1")
sys.exit(0 if flat and counts["wrong"] == 0 else 1)
