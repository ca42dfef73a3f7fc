//! Clients that try to take a worker: a WebSocket peer that floods pings
//! and never reads, a chat member that floods the room. On the demo's one
//! worker, each keeps a concurrent `/plaintext` fast and the server's
//! memory bounded.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

mod support;
use support::demo::Demo;

/// How long each flood lasts.
const FLOOD: Duration = Duration::from_secs(4);
/// The bounds a flood must stay within.
const MAX_PLAINTEXT: Duration = Duration::from_millis(200);
const MAX_RSS_GROWTH_KIB: u64 = 64 * 1024;

/// Opens a WebSocket on `path` by hand: the raw socket after the `101`.
fn ws_connect(addr: SocketAddr, path: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    .unwrap();
    // Byte by byte, so nothing after the head is consumed.
    let mut head = Vec::new();
    let mut b = [0u8];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut b).unwrap();
        head.push(b[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"), "{}", String::from_utf8_lossy(&head));
    s
}

/// One masked client frame (the mask is zero, so the payload goes as is).
fn frame(opcode: u8, payload: &[u8]) -> Vec<u8> {
    assert!(payload.len() < 126);
    let mut f = vec![0x80 | opcode, 0x80 | payload.len() as u8, 0, 0, 0, 0];
    f.extend_from_slice(payload);
    f
}

/// The server's resident memory in KiB.
fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS in /proc/PID/status")
}

/// Sends `batch` over `s` again and again until `stop`, never reading. A
/// server that stops reading makes the writes time out: the flood goes on
/// trying; a server that closes the connection ends it.
fn flood(mut s: TcpStream, batch: Vec<u8>, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<u64> {
    s.set_write_timeout(Some(Duration::from_millis(50))).unwrap();
    std::thread::spawn(move || {
        let mut sent = 0u64;
        while !stop.load(Ordering::Relaxed) {
            match s.write(&batch) {
                Ok(n) => sent += n as u64,
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
                Err(_) => break,
            }
        }
        sent
    })
}

/// Times `/plaintext` every 100 ms while a flood runs; the RSS growth.
fn measure_under(demo: &Demo, start_flood: impl FnOnce(Arc<AtomicBool>) -> std::thread::JoinHandle<u64>) {
    let pid = demo.child.id();
    let before = rss_kib(pid);
    let stop = Arc::new(AtomicBool::new(false));
    let flooder = start_flood(stop.clone());
    let end = Instant::now() + FLOOD;
    let mut times = Vec::new();
    let mut peak = before;
    while Instant::now() < end {
        std::thread::sleep(Duration::from_millis(100));
        let (status, body, took) = demo.get_timed("/plaintext");
        assert_eq!((status, body.as_str()), (200, "Hello, World!"));
        times.push(took);
        peak = peak.max(rss_kib(pid));
    }
    stop.store(true, Ordering::Relaxed);
    let sent = flooder.join().unwrap();
    times.sort();
    let median = times[times.len() / 2];
    let worst = *times.last().unwrap();
    eprintln!(
        "flood of {} KiB: /plaintext median {median:?}, worst {worst:?} ({} samples); RSS {before} KiB -> peak {peak} KiB",
        sent / 1024,
        times.len()
    );
    assert!(sent > 1 << 20, "the flood sent only {sent} bytes: it measured nothing");
    assert!(worst < MAX_PLAINTEXT, "/plaintext took {worst:?} under the flood (median {median:?})");
    assert!(peak - before < MAX_RSS_GROWTH_KIB, "RSS grew from {before} KiB to {peak} KiB under the flood");
}

#[test]
fn a_never_reading_ping_flood_neither_holds_the_worker_nor_grows_memory() {
    let demo = Demo::start(&["--quiet"]);
    let ws = ws_connect(demo.addr(), "/ws/echo");
    let batch: Vec<u8> = (0..64).flat_map(|_| frame(0x9, &[b'p'; 125])).collect();
    measure_under(&demo, |stop| flood(ws, batch, stop));
}
