"""A chat member on each of two demo instances for tests/chat_bus.rs
(Python's `websockets` package).

usage:
  chat_bus_peer.py cross WS_BASE_A WS_BASE_B
      a member on each instance; messages cross both ways, and each reaches
      its sender's own instance exactly once
  chat_bus_peer.py cross-distinct WS_BASE_A WS_BASE_B
      the same, through a proxy in front of both instances: the second
      member reconnects until it lands on another instance than the first
  chat_bus_peer.py local WS_BASE
      two members on one instance; a message from one reaches the other
prints "ok" on success."""

import asyncio
import os
import sys

import websockets

TIMEOUT = 20


async def join(base):
    ws = await websockets.connect(base + "/ws/chat")
    hello = await asyncio.wait_for(ws.recv(), TIMEOUT)
    assert hello.startswith("* you are member"), hello
    return ws


def instance_of(ws):
    """The instance id in the member's name ("* you are member 3@ab12cd34 ...")."""
    return ws.hello.split()[4].split("@")[1]


async def join_named(base):
    ws = await websockets.connect(base + "/ws/chat")
    ws.hello = await asyncio.wait_for(ws.recv(), TIMEOUT)
    assert ws.hello.startswith("* you are member"), ws.hello
    return ws


async def until(ws, token, seen):
    """Reads until a line ending with `token`; counts every token-tagged line in `seen`."""
    while True:
        line = await asyncio.wait_for(ws.recv(), TIMEOUT)
        tail = line.rsplit(": ", 1)[-1]
        seen[tail] = seen.get(tail, 0) + 1
        if tail == token:
            return line


async def cross(a_base, b_base, distinct=False):
    run = os.urandom(4).hex()
    if distinct:
        a = await join_named(a_base)
        for _ in range(8):
            b = await join_named(b_base)
            if instance_of(b) != instance_of(a):
                break
            await b.close()
        else:
            raise SystemExit("every member landed on instance " + instance_of(a))
    else:
        a, b = await join(a_base), await join(b_base)
    seen_a, seen_b = {}, {}
    t1, t2, t3 = f"from-a-{run}", f"from-b-{run}", f"again-a-{run}"
    await a.send(t1)
    await until(a, t1, seen_a)  # the sender's own instance, directly
    line = await until(b, t1, seen_b)  # the other instance, through the bus
    assert "@" in line, line  # names carry the instance
    await b.send(t2)
    await until(b, t2, seen_b)
    await until(a, t2, seen_a)
    await a.send(t3)
    await until(a, t3, seen_a)
    await until(b, t3, seen_b)
    # The bus delivers in publish order: had t1 or t2 come back to their
    # sender's instance through the bus, it would have been read by now.
    for seen in (seen_a, seen_b):
        for t in (t1, t2, t3):
            assert seen.get(t) == 1, (t, seen)
    await a.close()
    await b.close()
    print("ok")


async def local(base):
    run = os.urandom(4).hex()
    a, b = await join(base), await join(base)
    token = f"still-here-{run}"
    await a.send(token)
    await until(b, token, {})
    await a.close()
    await b.close()
    print("ok")


if sys.argv[1] == "cross":
    asyncio.run(cross(sys.argv[2], sys.argv[3]))
elif sys.argv[1] == "cross-distinct":
    asyncio.run(cross(sys.argv[2], sys.argv[3], distinct=True))
elif sys.argv[1] == "local":
    asyncio.run(local(sys.argv[2]))
else:
    raise SystemExit("unknown check " + sys.argv[1])
