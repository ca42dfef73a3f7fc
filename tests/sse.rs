//! Server-Sent Events: framing, heartbeats while the handler waits, no idle
//! timeout while streaming, and a handler that stops when its client leaves.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use greenloop::http::sse::{Event, stream};
use greenloop::http::{Limits, Request, Response, Router, Server, get};

static SENT: AtomicU32 = AtomicU32::new(0);
static STOPPED: AtomicBool = AtomicBool::new(false);

fn events(_req: Request) -> Response {
    stream(Duration::from_millis(100), |events| {
        let r = (|| {
            for i in 0..1_000_000 {
                events.send(&Event::data(format!("line one {i}\nline two")).event("tick").id(i.to_string()))?;
                SENT.fetch_add(1, Ordering::SeqCst);
                events.sleep(Duration::from_millis(300))?;
            }
            Ok(())
        })();
        STOPPED.store(true, Ordering::SeqCst);
        r
    })
}

#[test]
fn events_heartbeats_no_idle_timeout_and_stop_when_the_client_leaves() {
    let limits = Limits { idle_timeout: Duration::from_millis(200), ..Limits::default() };
    let server = Server::bind("127.0.0.1:0")
        .limits(limits)
        .handle_signals(false)
        .start(Router::new().route("/events", get(events)))
        .unwrap();
    let mut s = TcpStream::connect(server.local_addr().unwrap()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET /events HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut text = String::new();
    let started = Instant::now();
    // Well past the 200 ms idle timeout: the stream goes on.
    while started.elapsed() < Duration::from_millis(1000) {
        let mut line = String::new();
        assert!(r.read_line(&mut line).unwrap() > 0, "closed early: {text}");
        text.push_str(&line);
    }
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.to_ascii_lowercase().contains("content-type: text/event-stream"), "{text}");
    assert!(text.contains("event: tick\r\n") || text.contains("event: tick\n"), "{text}");
    assert!(text.contains("id: 1\n") && text.contains("data: line one 1\ndata: line two\n\n"), "{text}");
    assert!(text.contains(": heartbeat\n"), "no heartbeat: {text}");
    // The client goes away: the handler's next write fails and it stops.
    drop(r);
    drop(s);
    let t = Instant::now();
    while !STOPPED.load(Ordering::SeqCst) {
        assert!(t.elapsed() < Duration::from_secs(10), "the handler kept streaming into a closed socket");
        std::thread::sleep(Duration::from_millis(20));
    }
    let sent = SENT.load(Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(SENT.load(Ordering::SeqCst), sent);
    server.stop().unwrap();
}

#[test]
fn event_fields_cannot_be_forged() {
    let mut out = Vec::new();
    Event::data("a\r\nb").event("x\ndata: forged").id("1\n2").encode(&mut out);
    assert_eq!(String::from_utf8(out).unwrap(), "event: xdata: forged\nid: 12\ndata: a\ndata: b\n\n");
}
