"""An independent WebSocket peer for tests/ws.rs (Python's `websockets`
package, and raw sockets for frames no well-behaved client sends).

usage: ws_peer.py CHECK BASE_URL [CA_FILE]; prints "ok" on success."""

import asyncio
import base64
import os
import socket
import ssl
import struct
import sys

import websockets

check, base = sys.argv[1], sys.argv[2]
ctx = None
if len(sys.argv) > 3:
    ctx = ssl.create_default_context(cafile=sys.argv[3])
kw = {"ssl": ctx} if ctx else {}


async def echo():
    async with websockets.connect(base + "/ws/echo", max_size=None, **kw) as ws:
        await ws.send("hello")
        assert await ws.recv() == "hello"
        await ws.send(b"\x00\x01\xff" * 1000)
        assert await ws.recv() == b"\x00\x01\xff" * 1000
        # A fragmented message: three frames, one message back.
        await ws.send(iter(["frag", "ment", "ed"]))
        assert await ws.recv() == "fragmented"
        big = os.urandom(200_000)
        await ws.send(big)
        assert await ws.recv() == big
        await ws.ping()
    print("ok")


async def oversize():
    async with websockets.connect(base + "/ws/echo", max_size=None, **kw) as ws:
        # One frame under the 1 MiB message limit: the frame limit follows it.
        big = b"x" * 300_000
        await ws.send(big)
        assert await ws.recv() == big
        try:
            # One frame over the message limit. The server may close while the
            # frame is still being written, so the close can surface in send.
            await ws.send(b"x" * 1_100_000)
            await ws.recv()
            raise SystemExit("no close")
        except websockets.ConnectionClosed as e:
            assert e.rcvd is not None and e.rcvd.code == 1009, e
            assert "message limit" in e.rcvd.reason, e.rcvd.reason
    print("ok")


def raw_frames(frames):
    """Handshakes by hand on a raw socket, sends `frames`, returns the close code."""
    host, port = base.split("//")[1].split(":")
    s = socket.create_connection((host, int(port)))
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall(
        f"GET /ws/echo HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    data = b""
    while b"\r\n\r\n" not in data:
        data += s.recv(4096)
    assert data.startswith(b"HTTP/1.1 101"), data
    rest = data.split(b"\r\n\r\n", 1)[1]
    s.sendall(frames)
    s.settimeout(10)
    while len(rest) < 4:
        chunk = s.recv(4096)
        if not chunk:
            break
        rest += chunk
    assert rest[0] == 0x88, rest  # a close frame
    return struct.unpack("!H", rest[2:4])[0]


def bad_masking():
    # A client frame without a mask: a protocol error.
    assert raw_frames(b"\x81\x05hello") == 1002
    print("ok")


def bad_opcode():
    mask = b"\x01\x02\x03\x04"
    assert raw_frames(b"\x83\x80" + mask) == 1002  # opcode 3 is reserved
    print("ok")


async def chat_forgets():
    async with websockets.connect(base + "/ws/chat", **kw) as a:
        joined = await a.recv()
        assert "(1 online)" in joined, joined
        b = await websockets.connect(base + "/ws/chat", **kw)
        assert "(2 online)" in await b.recv()
        await b.send("hi from b")
        assert (await a.recv()).endswith(": hi from b")
        assert (await b.recv()).endswith(": hi from b")
        b.transport.abort()  # gone without a close frame
        # The room forgets b: a newcomer finds two members (a and itself).
        for _ in range(100):
            async with websockets.connect(base + "/ws/chat", **kw) as c:
                if "(2 online)" in await c.recv():
                    break
            await asyncio.sleep(0.05)
        else:
            raise SystemExit("the room still counts the vanished member")
        await a.send("still here")
        assert (await a.recv()).endswith(": still here")
    print("ok")


async def shutdown():
    async with websockets.connect(base + "/ws/echo", **kw) as ws:
        print("connected", flush=True)
        try:
            await asyncio.wait_for(ws.recv(), 20)
            raise SystemExit("no close")
        except websockets.ConnectionClosed as e:
            assert e.rcvd is not None and e.rcvd.code == 1001, e
    print("ok")


{
    "shutdown": lambda: asyncio.run(shutdown()),
    "echo": lambda: asyncio.run(echo()),
    "oversize": lambda: asyncio.run(oversize()),
    "bad_masking": bad_masking,
    "bad_opcode": bad_opcode,
    "chat_forgets": lambda: asyncio.run(chat_forgets()),
}[check]()
