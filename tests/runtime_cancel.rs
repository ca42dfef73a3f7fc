//! `Cancel` scopes: every kind of wait inside one stops when it is
//! cancelled, nested `timeout`s keep their own meaning, and a socket
//! cancels one when its peer hangs up (but not for bytes still unread).
//! Also the server: a handler's wait ends when its client goes away.

use std::cell::Cell;
use std::io::{Read, Write};
use std::rc::Rc;
use std::time::{Duration, Instant};

use greenloop::cancel::{self, Cancel};
use greenloop::net::{TcpListener, TcpStream};

/// Cancels `c` after `ms` milliseconds, from another green thread.
fn cancel_after(c: &Cancel, ms: u64) {
    let c = c.clone();
    greenloop::call_later(Duration::from_millis(ms), move || c.cancel());
}

#[test]
fn a_cancelled_scope_ends_each_kind_of_wait() {
    greenloop::run(|| {
        // A sleep returns early; `run` reports the cancellation.
        let c = Cancel::new();
        cancel_after(&c, 20);
        let start = Instant::now();
        assert!(c.run(|| greenloop::sleep(Duration::from_secs(10))).is_err());
        assert!(start.elapsed() < Duration::from_secs(5), "{:?}", start.elapsed());
        assert!(c.is_cancelled());

        // A wait that cannot fail (a channel receive) unwinds to `run`.
        let c = Cancel::new();
        let (_tx, rx) = greenloop::sync::channel::bounded::<u32>(1);
        cancel_after(&c, 20);
        let reached_after = Rc::new(Cell::new(false));
        let flag = reached_after.clone();
        let r = c.run(move || {
            let got = rx.recv();
            flag.set(true);
            got
        });
        assert!(r.is_err() && !reached_after.get());

        // A socket read fails, and the code inside sees it was cancelled.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let peer = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut s, _) = listener.accept().unwrap();
        let c = Cancel::new();
        cancel_after(&c, 20);
        let r = c.run(|| {
            let e = s.read(&mut [0u8; 16]).unwrap_err();
            (e.kind(), cancel::is_cancelled())
        });
        assert!(r.is_err());
        drop(peer);

        // Cancelled before it starts: the first wait ends at once.
        let c = Cancel::new();
        c.cancel();
        let start = Instant::now();
        assert!(c.run(|| greenloop::sleep(Duration::from_secs(10))).is_err());
        assert!(start.elapsed() < Duration::from_secs(5));
        // Reset, it is a fresh handle; code that does not wait is not cut short.
        c.reset();
        assert_eq!(c.run(|| 7), Ok(7));
        assert!(!cancel::is_cancelled());
    });
}

#[test]
fn a_nested_timeout_stays_a_timeout_and_a_cancel_passes_through_it() {
    greenloop::run(|| {
        // The cancel comes first: the inner `timeout` does not claim it.
        let c = Cancel::new();
        cancel_after(&c, 20);
        let r = c.run(|| greenloop::timeout(Duration::from_secs(30), || greenloop::sleep(Duration::from_secs(60))));
        assert!(r.is_err(), "the cancel reaches its own scope: {r:?}");
        // A channel wait (which unwinds) under an inner timeout, cancelled.
        let c = Cancel::new();
        let (_tx, rx) = greenloop::sync::channel::bounded::<u32>(1);
        cancel_after(&c, 20);
        let r = c.run(move || greenloop::timeout(Duration::from_secs(30), move || rx.recv()));
        assert!(r.is_err(), "{r:?}");

        // The timeout comes first: it is the timeout's, and the scope is not cancelled.
        let c = Cancel::new();
        let r = c.run(|| greenloop::timeout(Duration::from_millis(20), || greenloop::sleep(Duration::from_secs(60))));
        assert!(matches!(r, Ok(Err(_))), "{r:?}");
        assert!(!c.is_cancelled());
    });
}

#[test]
fn a_socket_cancels_on_hangup_but_not_for_unread_bytes() {
    greenloop::run(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut peer = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (s, _) = listener.accept().unwrap();
        let c = Cancel::new();
        s.cancel_on_hangup(Some(&c));

        // Bytes, then the peer's FIN: not a hang-up while the bytes wait.
        peer.write_all(b"pipelined").unwrap();
        peer.shutdown(std::net::Shutdown::Write).unwrap();
        let r = c.run(|| greenloop::sleep(Duration::from_millis(200)));
        assert_eq!(r, Ok(()), "unread bytes are not a hang-up");
        assert!(!c.is_cancelled() && !s.peer_hung_up());

        // Read them: now the peer is gone, seen without reading anything more.
        let mut buf = [0u8; 64];
        let n = (&s).read(&mut buf).unwrap();
        assert_eq!(&buf[..n], b"pipelined");
        assert!(s.peer_hung_up());

        // A second connection, cancelled while the scope waits.
        let mut peer2 = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (s2, _) = listener.accept().unwrap();
        let c2 = Cancel::new();
        s2.cancel_on_hangup(Some(&c2));
        peer2.write_all(b"x").unwrap();
        let _ = (&s2).read(&mut buf).unwrap();
        greenloop::call_later(Duration::from_millis(30), move || drop(peer2));
        let start = Instant::now();
        let r = c2.run(|| greenloop::sleep(Duration::from_secs(10)));
        assert!(r.is_err(), "the hang-up cancels the scope");
        assert!(start.elapsed() < Duration::from_secs(5), "{:?}", start.elapsed());
        drop(peer);
    });
}

#[test]
fn a_handler_stops_waiting_when_its_client_leaves() {
    use greenloop::http::{Router, Server, get};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    // How long the handler's sleep lasted, in ms (0: not finished yet).
    let slept = Arc::new(AtomicU64::new(0));
    let seen = slept.clone();
    let app = Router::new()
        .route(
            "/wait",
            get(move |_req| {
                let start = Instant::now();
                greenloop::sleep(Duration::from_secs(10));
                seen.store(start.elapsed().as_millis() as u64 + 1, Ordering::SeqCst);
                "slept"
            }),
        )
        .route(
            "/slow",
            get(|_req| {
                greenloop::sleep(Duration::from_millis(200));
                "done"
            }),
        );
    let server = Server::bind("127.0.0.1:0").handle_signals(false).start(app).expect("server starts");
    let addr = server.local_addr().unwrap();

    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.write_all(b"GET /wait HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(100));
    drop(s);
    let start = Instant::now();
    while slept.load(Ordering::SeqCst) == 0 && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(10));
    }
    let ms = slept.load(Ordering::SeqCst);
    assert!(ms > 0 && ms < 5000, "the handler's 10 s sleep should end when its client leaves: {ms} ms");

    // Pipelined requests on a connection that stays open are all answered.
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\nGET /slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert_eq!(out.matches("HTTP/1.1 200").count(), 2, "{out}");
    server.stop().expect("no worker panicked");
}
