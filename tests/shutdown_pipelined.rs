//! Graceful shutdown under pipelined load: the demo binary gets SIGTERM
//! while 50 keep-alive clients are pipelining requests (some heads cut in
//! two writes, some bodies, some handlers sleeping), and no request whose
//! first byte was sent before the signal may go unanswered.
//!
//! Needs: nothing beyond `cargo` (loopback sockets, the demo binary that
//! `cargo test` builds). Run: `cargo test --test shutdown_pipelined`.

mod support;

use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use support::demo::Demo;
use support::raw::{IO_TIMEOUT, read_response};

const CLIENTS: usize = 50;
/// Requests a client may have sent and not yet seen answered.
const WINDOW: usize = 6;

/// One request as the client sent it.
struct Sent {
    /// The bytes of the whole request.
    wire: Vec<u8>,
    /// What the response body must be.
    expect: Vec<u8>,
    /// When the write holding its first byte returned.
    first_byte: Option<Instant>,
    /// When the write holding its last byte returned.
    last_byte: Option<Instant>,
}

/// What one client saw.
#[derive(Default)]
struct Log {
    sent: Vec<Sent>,
    /// Responses received, in order (they answer `sent[..answered]`).
    answered: usize,
    /// When each response was read completely.
    answered_at: Vec<Instant>,
    /// The last response said `Connection: close`.
    closed_by_server: bool,
    /// Wrong, truncated or extra responses.
    failures: Vec<String>,
}

fn request(client: usize, i: usize) -> (Vec<u8>, Vec<u8>) {
    match (client + i) % 4 {
        0 => (
            b"GET /plaintext HTTP/1.1\r\nHost: demo\r\nUser-Agent: pipeline\r\n\r\n".to_vec(),
            b"Hello, World!".to_vec(),
        ),
        1 => {
            // Mostly short sleeps; now and then one that is still running when the signal comes.
            let ms = if i % 10 == 9 { 300 } else { i % 20 };
            (format!("GET /sleep?ms={ms} HTTP/1.1\r\nHost: demo\r\n\r\n").into_bytes(), b"slept".to_vec())
        }
        _ => {
            let body = format!("client {client} request {i}: {}", "x".repeat(i % 50));
            let head = format!(
                "POST /echo HTTP/1.1\r\nHost: demo\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n",
                body.len()
            );
            ([head.as_bytes(), body.as_bytes()].concat(), body.into_bytes())
        }
    }
}

/// A small deterministic generator (no dependency, repeatable runs).
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Writes pipelined batches of 1-3 requests, each batch cut in two writes
/// at a random byte with a short pause between them, until told to stop or
/// the connection fails.
fn writer(client: usize, mut w: TcpStream, log: Arc<Mutex<Log>>, stop: Arc<AtomicBool>) {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ ((client as u64 + 1) * 0x1000_0001));
    let mut i = 0;
    while !stop.load(Ordering::Relaxed) {
        // Flow control: keep at most WINDOW requests unanswered.
        let unanswered = {
            let l = log.lock().unwrap();
            l.sent.len() - l.answered
        };
        if unanswered >= WINDOW {
            thread::sleep(Duration::from_millis(1));
            continue;
        }
        let batch = 1 + rng.below(3) as usize;
        let first = i;
        let mut bytes = Vec::new();
        let mut starts = Vec::new();
        {
            let mut l = log.lock().unwrap();
            for _ in 0..batch {
                let (wire, expect) = request(client, i);
                starts.push(bytes.len());
                bytes.extend_from_slice(&wire);
                l.sent.push(Sent { wire, expect, first_byte: None, last_byte: None });
                i += 1;
            }
        }
        let cut = 1 + rng.below(bytes.len() as u64 - 1) as usize;
        let pause = Duration::from_millis(rng.below(25));
        for (part, range) in [(0, 0..cut), (1, cut..bytes.len())] {
            if part == 1 {
                thread::sleep(pause);
            }
            if w.write_all(&bytes[range.clone()]).is_err() {
                return;
            }
            let now = Instant::now();
            let mut l = log.lock().unwrap();
            for (k, &start) in starts.iter().enumerate() {
                let end = start + l.sent[first + k].wire.len();
                let s = &mut l.sent[first + k];
                if start < range.end && s.first_byte.is_none() {
                    s.first_byte = Some(now);
                }
                if end <= range.end && end > range.start {
                    s.last_byte = Some(now);
                }
            }
        }
    }
}

/// Reads responses in order until the server closes; checks each against
/// the request it answers.
fn reader(s: TcpStream, log: Arc<Mutex<Log>>, stop: Arc<AtomicBool>) {
    let mut r = BufReader::new(s);
    loop {
        // At a response boundary, EOF or a reset is the server closing.
        match r.fill_buf() {
            Ok([]) => break,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => break,
            Err(e) => {
                log.lock().unwrap().failures.push(format!("waiting for a response: {e}"));
                break;
            }
        }
        let resp = read_response(&mut r, false);
        let mut l = log.lock().unwrap();
        let idx = l.answered;
        let resp = match resp {
            Ok(resp) => resp,
            Err(e) => {
                l.failures.push(format!("response {idx} cut short: {e}"));
                break;
            }
        };
        if idx >= l.sent.len() {
            l.failures.push(format!("response {idx} answers no request: {resp:?}"));
            break;
        }
        if resp.status != 200 || resp.body != l.sent[idx].expect {
            let req = String::from_utf8_lossy(&l.sent[idx].wire).into_owned();
            l.failures.push(format!("response {idx} to {req:?} is {} {:?}", resp.status, resp.text()));
        }
        l.answered += 1;
        l.answered_at.push(Instant::now());
        if resp.closes() {
            l.closed_by_server = true;
            drop(l);
            // Nothing may follow a response that announced the close.
            let mut rest = Vec::new();
            match io::Read::read_to_end(&mut r, &mut rest) {
                Ok(_) if !rest.is_empty() => log
                    .lock()
                    .unwrap()
                    .failures
                    .push(format!("bytes after Connection: close: {:?}", String::from_utf8_lossy(&rest))),
                _ => {}
            }
            break;
        }
    }
    stop.store(true, Ordering::Relaxed);
}

fn client(id: usize, addr: SocketAddr) -> (Arc<Mutex<Log>>, thread::JoinHandle<()>, thread::JoinHandle<()>) {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_nodelay(true).unwrap();
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    let log = Arc::new(Mutex::new(Log::default()));
    let stop = Arc::new(AtomicBool::new(false));
    let w = s.try_clone().unwrap();
    let (l, st) = (log.clone(), stop.clone());
    let writer = thread::spawn(move || writer(id, w, l, st));
    let (l, st) = (log.clone(), stop);
    let reader = thread::spawn(move || reader(s, l, st));
    (log, writer, reader)
}

#[test]
fn sigterm_while_50_clients_pipeline_loses_no_started_request() {
    let mut demo = Demo::start(&["--quiet", "--workers", "2"]);
    let addr = demo.addr();
    let clients: Vec<_> = (0..CLIENTS).map(|id| client(id, addr)).collect();

    // Let every client get going (a few answers each), then a little more.
    let answered = |n: usize| clients.iter().all(|(log, _, _)| log.lock().unwrap().answered >= n);
    let ramp = Instant::now();
    while !answered(5) {
        assert!(ramp.elapsed() < Duration::from_secs(30), "the load never got going");
        thread::sleep(Duration::from_millis(10));
    }
    thread::sleep(Duration::from_millis(300));

    let signal = Instant::now();
    // SAFETY: kill(2) on the pid of a child we started and have not reaped.
    assert_eq!(unsafe { libc::kill(demo.child.id() as libc::pid_t, libc::SIGTERM) }, 0);

    let exit_deadline = Instant::now() + Duration::from_secs(40);
    let status = loop {
        if let Some(status) = demo.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < exit_deadline, "the server did not exit within 40 s of SIGTERM");
        thread::sleep(Duration::from_millis(20));
    };
    let stopped = signal.elapsed();

    let mut problems = Vec::new();
    let (mut total, mut started_before, mut open_at_signal, mut closes) = (0, 0, 0, 0);
    let mut in_flight_answered = 0;
    for (id, (log, w, r)) in clients.into_iter().enumerate() {
        r.join().unwrap_or_else(|_| panic!("client {id}'s reader panicked"));
        w.join().unwrap();
        let l = log.lock().unwrap();
        total += l.answered;
        closes += usize::from(l.closed_by_server);
        for f in &l.failures {
            problems.push(format!("client {id}: {f}"));
        }
        let mut had_open = false;
        for (i, s) in l.sent.iter().enumerate() {
            let Some(first) = s.first_byte.filter(|t| *t < signal) else { continue };
            started_before += 1;
            let done_before = i < l.answered && l.answered_at[i] < signal;
            if !done_before {
                had_open = true;
            }
            if i < l.answered {
                in_flight_answered += usize::from(!done_before);
                continue;
            }
            let how = match s.last_byte {
                Some(t) if t < signal => "sent whole before the signal",
                _ => "head or body partly sent before the signal",
            };
            let req = String::from_utf8_lossy(&s.wire);
            let first_line = req.lines().next().unwrap_or("");
            problems.push(format!(
                "client {id}: request {i} ({first_line:?}, {how}, first byte {:?} before it) got no response",
                signal - first
            ));
        }
        open_at_signal += usize::from(had_open);
    }
    eprintln!(
        "{total} responses; {started_before} requests started before the signal, {in_flight_answered} of them \
         answered after it; {open_at_signal} clients had a request open at the signal; {closes} connections \
         closed by a Connection: close response; the server exited {stopped:?} after SIGTERM"
    );
    assert!(problems.is_empty(), "{} problems:\n{}", problems.len(), problems.join("\n"));
    assert!(status.success(), "the server exited with {status}");
    // The test means something only if the signal came in the middle of the traffic.
    assert!(open_at_signal > 0, "no client had a request open when the signal came");
}
