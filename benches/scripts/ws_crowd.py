#!/usr/bin/env python3
"""Measures: WebSockets on one greenloop worker, plain (ws://).
  1. N idle connections to /ws/echo: the server's resident memory before
     and after, per connection (VmRSS from /proc, after the crowd settled).
  2. N members of /ws/chat: one message broadcast to all of them, the time
     from sending it until the last member has received it.
Needs: python3 with the `websockets` package (pip install websockets), a
  release build (cargo build --release), `ulimit -n` above 2 N + 100.
Run (from the repository root):
  benches/scripts/ws_crowd.py                 # N=10000, target/release/greenloop
  N=2000 benches/scripts/ws_crowd.py PATH     # another size or build
"""

import asyncio
import os
import resource
import subprocess
import sys
import time

import websockets

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from procfs import rss_kib  # noqa: E402

N = int(os.environ.get("N", "10000"))
BIN = sys.argv[1] if len(sys.argv) > 1 else "target/release/greenloop"
PORT = int(os.environ.get("PORT", "18590"))
BASE = f"ws://127.0.0.1:{PORT}"



async def crowd(path, n):
    conns = []
    for start in range(0, n, 250):
        batch = [websockets.connect(BASE + path, max_queue=4, ping_interval=None, compression=None)
                 for _ in range(start, min(n, start + 250))]
        conns += await asyncio.gather(*batch)
    return conns


async def main(pid):
    await asyncio.sleep(0.5)
    before = rss_kib(pid)
    idle = await crowd("/ws/echo", N)
    await asyncio.sleep(2)
    after = rss_kib(pid)
    per = (after - before) * 1024 / N
    print(f"{N} idle /ws/echo connections: RSS {before} KiB -> {after} KiB, {per:.0f} B per connection")
    await asyncio.gather(*(c.close() for c in idle))
    await asyncio.sleep(1)

    members = await crowd("/ws/chat", N)
    await asyncio.gather(*(m.recv() for m in members))  # each one's welcome
    got = []

    async def wait(m):
        msg = await m.recv()
        assert msg.endswith(": go"), msg
        got.append(time.perf_counter())

    waiters = [asyncio.create_task(wait(m)) for m in members]
    await asyncio.sleep(0.5)
    t0 = time.perf_counter()
    await members[0].send("go")
    await asyncio.gather(*waiters)
    print(f"broadcast to {N} members: the first received it after {(min(got) - t0) * 1000:.1f} ms, "
          f"the last after {(max(got) - t0) * 1000:.1f} ms (client and server share the machine)")
    await asyncio.gather(*(m.close() for m in members))


soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, 2 * N + 1000)), hard))
server = subprocess.Popen([BIN, "--bind", f"127.0.0.1:{PORT}", "--quiet", "--max-connections", str(2 * N + 100)],
                          stderr=subprocess.DEVNULL)
try:
    asyncio.run(main(server.pid))
finally:
    server.terminate()
    server.wait()
