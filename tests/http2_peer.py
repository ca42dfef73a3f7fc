#!/usr/bin/env python3
"""HTTP/2 peers for tests/http2.rs, written with Python's `h2` package (and
its `hyperframe`/`hpack` for frames a well-behaved client never sends).

Usage: http2_peer.py MODE PORT [ARG]. Each mode prints one JSON object
describing what the server did; the Rust test asserts on it.
"""

import json
import select
import socket
import sys
import time

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
from hpack import Encoder
from hyperframe.frame import (ContinuationFrame, DataFrame, Frame, GoAwayFrame, HeadersFrame, PingFrame,
                              RstStreamFrame, SettingsFrame, WindowUpdateFrame)

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def out(**kw):
    print(json.dumps(kw), flush=True)



def recv_some(sock, deadline):
    """What arrives on `sock` before `deadline`: None if nothing did, b"" once
    the connection has ended."""
    r, _, _ = select.select([sock], [], [], max(0.0, deadline - time.time()))
    if not r:
        return None
    try:
        return sock.recv(65536)
    except (ConnectionResetError, socket.timeout):
        return b""

class Client:
    """A client on h2's state machine, for well-formed traffic."""

    def __init__(self, port, settings=None):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.settimeout(10)
        self.conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        self.conn.local_settings = h2.settings.Settings(client=True, initial_values=settings or {})
        self.conn.initiate_connection()
        self.flush()
        self.port = port
        self.status = {}
        self.bodies = {}
        self.ended = set()
        self.reset = {}
        self.goaway = None
        self.closed = False

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def get(self, path, end_stream=True, extra=()):
        sid = self.conn.get_next_available_stream_id()
        headers = [(":method", "GET"), (":path", path), (":scheme", "http"), (":authority", f"127.0.0.1:{self.port}")]
        self.conn.send_headers(sid, headers + list(extra), end_stream=end_stream)
        self.flush()
        return sid

    def pump(self, until, timeout=10, ack_data=True):
        """Reads and handles events until `until()` or the connection ends."""
        deadline = time.time() + timeout
        while not until() and not self.closed and time.time() < deadline:
            data = recv_some(self.sock, deadline)
            if data is None:
                break
            if not data:
                self.closed = True
                break
            for e in self.conn.receive_data(data):
                if isinstance(e, h2.events.ResponseReceived):
                    self.status[e.stream_id] = int(dict(e.headers)[b":status"])
                elif isinstance(e, h2.events.DataReceived):
                    self.bodies[e.stream_id] = self.bodies.get(e.stream_id, b"") + e.data
                    if ack_data:
                        self.conn.acknowledge_received_data(e.flow_controlled_length, e.stream_id)
                elif isinstance(e, h2.events.StreamEnded):
                    self.ended.add(e.stream_id)
                elif isinstance(e, h2.events.StreamReset):
                    self.reset[e.stream_id] = int(e.error_code)
                elif isinstance(e, h2.events.ConnectionTerminated):
                    self.goaway = int(e.error_code)
            try:
                self.flush()
            except OSError:
                self.closed = True


class Raw:
    """Frames written by hand, for what h2's state machine refuses to send."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.settimeout(10)
        self.enc = Encoder()
        self.buf = b""
        self.port = port
        self.sock.sendall(PREFACE + SettingsFrame(0).serialize())

    def headers_block(self, path, extra=()):
        return self.enc.encode([(":method", "GET"), (":path", path), (":scheme", "http"),
                                (":authority", f"127.0.0.1:{self.port}")] + list(extra))

    def send(self, *frames):
        """Sends frames; False once the server has closed the connection."""
        try:
            self.sock.sendall(b"".join(f.serialize() for f in frames))
            return True
        except OSError:
            return False

    def frames(self, timeout):
        """Frames received within `timeout` (until the connection closes)."""
        got = []
        deadline = time.time() + timeout
        closed = False
        while time.time() < deadline:
            data = recv_some(self.sock, deadline)
            if data is None:
                break
            if not data:
                closed = True
                break
            self.buf += data
            while len(self.buf) >= 9:
                f, length = Frame.parse_frame_header(memoryview(self.buf[:9]))
                if len(self.buf) < 9 + length:
                    break
                f.parse_body(memoryview(self.buf[9:9 + length]))
                self.buf = self.buf[9 + length:]
                got.append(f)
                if isinstance(f, SettingsFrame) and "ACK" not in f.flags:
                    self.send(SettingsFrame(0, flags=["ACK"]))
        return got, closed


def goaway_code(frames):
    codes = [f.error_code for f in frames if isinstance(f, GoAwayFrame)]
    return codes[-1] if codes else None


def concurrency(port, n):
    """n /sleep?ms=1000 streams at once on one connection: how long they all took."""
    c = Client(port)
    start = time.time()
    sids = [c.get("/sleep?ms=1000") for _ in range(n)]
    c.pump(lambda: all(s in c.ended for s in sids), timeout=20)
    out(elapsed=time.time() - start, ok=sum(1 for s in sids if c.status.get(s) == 200 and s in c.ended))


def rapid_reset(port, n):
    """Opens n streams of a 10-second handler, resetting each at once (CVE-2023-44487)."""
    raw = Raw(port)
    sent, sid, alive = 0, 1, True
    start = time.time()
    while sent < n and alive:
        batch = []
        for _ in range(min(100, n - sent)):
            batch.append(HeadersFrame(sid, data=raw.headers_block("/sleep?ms=10000"), flags=["END_HEADERS", "END_STREAM"]))
            rst = RstStreamFrame(sid)
            rst.error_code = 8  # CANCEL
            batch.append(rst)
            sid += 2
            sent += 1
        alive = raw.send(*batch)
    frames, closed = raw.frames(5)
    out(sent=sent, goaway=goaway_code(frames), closed=closed or not alive, elapsed=time.time() - start)


def continuation_flood(port, n):
    """HEADERS without END_HEADERS, then up to n CONTINUATION frames (CVE-2024-27316)."""
    raw = Raw(port)
    raw.send(HeadersFrame(1, data=raw.headers_block("/hello")))
    piece = raw.enc.encode([("x-flood", "a" * 100)])
    sent, alive = 0, True
    while sent < n and alive:
        k = min(200, n - sent)
        alive = raw.send(*[ContinuationFrame(1, data=piece) for _ in range(k)])
        sent += k
    frames, closed = raw.frames(5)
    out(sent=sent, goaway=goaway_code(frames), closed=closed or not alive,
        answered=any(isinstance(f, HeadersFrame) for f in frames))


def empty_continuations(port, n):
    """The same with empty CONTINUATION frames, which add nothing to the header list."""
    raw = Raw(port)
    raw.send(HeadersFrame(1, data=raw.headers_block("/hello")))
    sent, alive = 0, True
    while sent < n and alive:
        k = min(1000, n - sent)
        alive = raw.send(*[ContinuationFrame(1, data=b"") for _ in range(k)])
        sent += k
    frames, closed = raw.frames(5)
    out(sent=sent, goaway=goaway_code(frames), closed=closed or not alive)


def flood(port, n, kind):
    """n PING or SETTINGS frames, reading the answers between batches; then a request on the same connection."""
    raw = Raw(port)
    sent, answers, alive = 0, 0, True
    start = time.time()
    while sent < n and alive:
        k = min(1000, n - sent)
        if kind == "ping":
            alive = raw.send(*[PingFrame(0, opaque_data=b"12345678") for _ in range(k)])
        else:
            alive = raw.send(*[SettingsFrame(0, settings={4: 65535}) for _ in range(k)])
        sent += k
        frames, closed = raw.frames(0.01)
        answers += sum(1 for f in frames if isinstance(f, (PingFrame, SettingsFrame)) and "ACK" in f.flags)
        alive = alive and not closed
    status = None
    if alive:
        raw.send(HeadersFrame(1, data=raw.headers_block("/hello"), flags=["END_HEADERS", "END_STREAM"]))
        deadline = time.time() + 10
        while time.time() < deadline and status is None:
            frames, closed = raw.frames(0.5)
            answers += sum(1 for f in frames if isinstance(f, (PingFrame, SettingsFrame)) and "ACK" in f.flags)
            if any(isinstance(f, HeadersFrame) and f.stream_id == 1 for f in frames):
                status = 200
            if closed:
                break
    out(sent=sent, answers=answers, status=status, elapsed=time.time() - start)


def big_headers(port, size):
    """A request whose header list is `size` bytes, then a normal one on the same connection."""
    c = Client(port)
    big = c.get("/hello", extra=[("x-big", "b" * size)])
    c.pump(lambda: big in c.ended or big in c.reset, timeout=5)
    small = None
    if not c.closed and c.goaway is None:
        small = c.get("/hello")
        c.pump(lambda: small in c.ended or small in c.reset, timeout=5)
    out(big_status=c.status.get(big), big_reset=c.reset.get(big), goaway=c.goaway,
        small_status=c.status.get(small) if small else None)


def too_many_streams(port, n):
    """n streams of a 500 ms handler at once, past the server's announced limit."""
    raw = Raw(port)
    raw.frames(0.2)
    raw.send(*[HeadersFrame(1 + 2 * i, data=raw.headers_block("/sleep?ms=500"), flags=["END_HEADERS", "END_STREAM"])
               for i in range(n)])
    ok, refused, other = set(), set(), []
    deadline = time.time() + 10
    while time.time() < deadline and len(ok) + len(refused) < n:
        frames, closed = raw.frames(0.5)
        for f in frames:
            if isinstance(f, DataFrame) and "END_STREAM" in f.flags:
                ok.add(f.stream_id)
            elif isinstance(f, RstStreamFrame):
                if f.error_code == 7:
                    refused.add(f.stream_id)
                else:
                    other.append((f.stream_id, f.error_code))
            elif isinstance(f, GoAwayFrame):
                other.append(("goaway", f.error_code))
        if closed:
            break
    out(ok=len(ok), refused=len(refused), other=other)


def window(port, kib):
    """A 1 KiB stream window left shut: the streamed response waits, other streams go on; then it is opened."""
    c = Client(port, settings={h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 1024})
    big = c.get(f"/stream?kib={kib}")
    c.pump(lambda: len(c.bodies.get(big, b"")) >= 1024, timeout=5, ack_data=False)
    c.pump(lambda: False, timeout=0.5, ack_data=False)
    stalled = len(c.bodies.get(big, b""))
    hello = c.get("/hello")
    c.pump(lambda: hello in c.ended, timeout=5, ack_data=False)
    hello_status = c.status.get(hello)
    # Open the window: the rest flows.
    c.conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 1 << 20})
    c.conn.increment_flow_control_window(1 << 24)
    c.flush()
    c.pump(lambda: big in c.ended, timeout=20)
    body = c.bodies.get(big, b"")
    out(stalled=stalled, hello=hello_status, total=len(body), all_x=body == b"x" * (kib * 1024))


def shutdown(port, n):
    """n streams of a 700 ms handler; prints "sent", then reads every answer, the GOAWAY and the close.

    Raw frames: Python's h2 refuses the PING that follows a graceful GOAWAY."""
    raw = Raw(port)
    raw.send(*[HeadersFrame(1 + 2 * i, data=raw.headers_block("/sleep?ms=700"), flags=["END_HEADERS", "END_STREAM"])
               for i in range(n)])
    print("sent", flush=True)
    ended, bodies, goaways, closed = set(), {}, [], False
    deadline = time.time() + 20
    while time.time() < deadline and not closed:
        frames, closed = raw.frames(0.5)
        for f in frames:
            if isinstance(f, DataFrame):
                bodies[f.stream_id] = bodies.get(f.stream_id, b"") + f.data
                if "END_STREAM" in f.flags:
                    ended.add(f.stream_id)
            elif isinstance(f, GoAwayFrame):
                goaways.append(f.error_code)
            elif isinstance(f, PingFrame) and "ACK" not in f.flags:
                raw.send(PingFrame(0, flags=["ACK"], opaque_data=f.opaque_data))
    ok = sum(1 for s in ended if bodies[s] == b"slept 700 ms\n")
    out(ok=ok, goaway=goaways[-1] if goaways else None, closed=closed)


def reuse(port, n):
    """n requests one after another on one connection, and a panicking one among them."""
    c = Client(port)
    statuses = []
    for path in ["/hello"] * n + ["/panic", "/hello"]:
        s = c.get(path)
        c.pump(lambda: s in c.ended or s in c.reset, timeout=5)
        statuses.append(c.status.get(s))
    out(statuses=statuses, closed=c.closed)


def hpack_table(port, size):
    """A header block whose table size update asks for more than the server allows."""
    raw = Raw(port)
    raw.enc.header_table_size = size
    raw.send(HeadersFrame(1, data=raw.headers_block("/hello"), flags=["END_HEADERS", "END_STREAM"]))
    frames, closed = raw.frames(5)
    out(goaway=goaway_code(frames), closed=closed, answered=any(isinstance(f, HeadersFrame) for f in frames))


def overrun_window(port, size):
    """`size` bytes of DATA on one stream at once, past its receive window."""
    raw = Raw(port)
    raw.send(WindowUpdateFrame(0, window_increment=1 << 30))
    raw.send(HeadersFrame(1, data=raw.headers_block("/sleep?ms=2000"), flags=["END_HEADERS"]))
    alive, sent = True, 0
    while sent < size and alive:
        alive = raw.send(DataFrame(1, data=b"d" * 16384))
        sent += 16384
    frames, closed = raw.frames(3)
    resets = [f.error_code for f in frames if isinstance(f, RstStreamFrame)]
    out(sent=sent, goaway=goaway_code(frames), reset=resets[-1] if resets else None, closed=closed or not alive)


def idle_until_goaway(port, _):
    """One answer, then idle: prints "answered", then waits for the server's GOAWAY and close."""
    c = Client(port)
    s = c.get("/hello")
    c.pump(lambda: s in c.ended, timeout=5)
    print("answered", flush=True)
    start = time.time()
    try:
        c.pump(lambda: c.goaway is not None and c.closed, timeout=15)
    except h2.exceptions.ProtocolError:
        pass
    out(status=c.status.get(s), goaway=c.goaway, closed=c.closed, waited=time.time() - start)


def main():
    mode, port = sys.argv[1], int(sys.argv[2])
    arg = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    {
        "concurrency": lambda: concurrency(port, arg),
        "rapid_reset": lambda: rapid_reset(port, arg),
        "continuation_flood": lambda: continuation_flood(port, arg),
        "empty_continuations": lambda: empty_continuations(port, arg),
        "ping_flood": lambda: flood(port, arg, "ping"),
        "settings_flood": lambda: flood(port, arg, "settings"),
        "big_headers": lambda: big_headers(port, arg),
        "too_many_streams": lambda: too_many_streams(port, arg),
        "window": lambda: window(port, arg),
        "shutdown": lambda: shutdown(port, arg),
        "reuse": lambda: reuse(port, arg),
        "idle_until_goaway": lambda: idle_until_goaway(port, arg),
        "hpack_table": lambda: hpack_table(port, arg),
        "overrun_window": lambda: overrun_window(port, arg),
    }[mode]()


if __name__ == "__main__":
    main()
