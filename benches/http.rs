//! End-to-end HTTP/1.1 over loopback: one server worker (in this process,
//! on its own thread) and a blocking client on the bench thread.
//!
//! - `plaintext keep-alive`: one request, one response, on a kept-alive
//!   connection: the full round trip, latency-bound.
//! - `plaintext pipelined x16`: 16 requests in one write, 16 responses read:
//!   the server's per-request cost when syscalls are batched.
//!
//! Throughput is reported per request. For req/s under many connections
//! (wrk), against other servers, see benches/scripts/peers_median.sh and
//! docs/PERFORMANCE.md.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use greenloop::http::{Request, Response, ResponseBody, Server, header};

const REQUEST: &[u8] = b"GET /plaintext HTTP/1.1\r\nHost: localhost\r\nUser-Agent: bench\r\n\r\n";

fn plaintext(_req: Request) -> Response {
    let mut r = Response::new(ResponseBody::from("Hello, World!"));
    r.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("text/plain"));
    r
}

/// Reads exactly `count` responses of the known plaintext shape.
fn read_responses(stream: &mut TcpStream, buf: &mut Vec<u8>, count: usize) {
    let mut seen = 0;
    buf.clear();
    let mut scan = 0;
    let mut chunk = [0u8; 65536];
    while seen < count {
        let n = stream.read(&mut chunk).expect("read response");
        assert!(n > 0, "server closed the connection");
        buf.extend_from_slice(&chunk[..n]);
        // Each response ends with the 13-byte body after its blank line.
        while let Some(pos) = find(&buf[scan..], b"\r\n\r\n") {
            let end = scan + pos + 4 + 13;
            if end > buf.len() {
                break;
            }
            assert_eq!(&buf[end - 13..end], b"Hello, World!");
            seen += 1;
            scan = end;
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn http(c: &mut Criterion) {
    let server = Server::bind("127.0.0.1:0").handle_signals(false).start(plaintext).expect("start server");
    let addr = server.local_addr().unwrap();
    let mut g = c.benchmark_group("http");
    g.throughput(Throughput::Elements(1));

    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_nodelay(true).unwrap();
    let mut buf = Vec::with_capacity(65536);
    g.bench_function("plaintext keep-alive", |b| {
        b.iter(|| {
            stream.write_all(REQUEST).unwrap();
            read_responses(&mut stream, &mut buf, 1);
        })
    });

    let batch: Vec<u8> = REQUEST.repeat(16);
    g.throughput(Throughput::Elements(16));
    g.bench_function("plaintext pipelined x16", |b| {
        b.iter(|| {
            stream.write_all(&batch).unwrap();
            read_responses(&mut stream, &mut buf, 16);
        })
    });
    g.finish();
    drop(stream);
    server.stop().unwrap();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(4));
    targets = http
}
criterion_main!(benches);
