//! `Cancel` scopes: every kind of wait inside one stops when it is
//! cancelled, nested `timeout`s keep their own meaning, and a socket
//! cancels one when its peer hangs up (but not for bytes still unread).
//! Also the server: a handler's wait ends when its client goes away, in
//! the handler's own scopes too. Scopes nest, on one green thread or
//! several.

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

/// Sends `request`, leaves before the answer, and waits up to 5 s for `done`.
fn leave_mid_request(addr: std::net::SocketAddr, request: &[u8], done: impl Fn() -> bool) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.write_all(request).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    drop(s);
    let start = Instant::now();
    while !done() && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Sends `requests` on one connection and reads until the server closes it.
fn ask(addr: std::net::SocketAddr, requests: &[u8]) -> String {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(requests).unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
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

    leave_mid_request(addr, b"GET /wait HTTP/1.1\r\nHost: x\r\n\r\n", || slept.load(Ordering::SeqCst) != 0);
    let ms = slept.load(Ordering::SeqCst);
    assert!(ms > 0 && ms < 5000, "the handler's 10 s sleep should end when its client leaves: {ms} ms");

    // Pipelined requests on a connection that stays open are all answered.
    let out =
        ask(addr, b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\nGET /slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_eq!(out.matches("HTTP/1.1 200").count(), 2, "{out}");
    server.stop().expect("no worker panicked");
}

#[test]
fn nested_cancel_scopes_each_end_their_own_waits() {
    greenloop::run(|| {
        // The inner handle cancelled: only the inner scope ends; the outer
        // one goes on waiting normally and returns its value.
        let (outer, inner) = (Cancel::new(), Cancel::new());
        cancel_after(&inner, 20);
        let r = outer.run(|| {
            let got = inner.run(|| greenloop::sleep(Duration::from_secs(10)));
            assert!(!cancel::is_cancelled(), "only the inner scope was cancelled");
            greenloop::sleep(Duration::from_millis(30));
            got
        });
        assert!(matches!(r, Ok(Err(_))), "{r:?}");
        assert!(!outer.is_cancelled());

        // The outer handle cancelled while the inner scope waits: the wait
        // ends, the inner scope (not cancelled) returns, the outer reports it.
        let (outer, inner) = (Cancel::new(), Cancel::new());
        cancel_after(&outer, 20);
        let start = Instant::now();
        let r = outer.run(|| {
            let got = inner.run(|| {
                greenloop::sleep(Duration::from_secs(10));
                cancel::is_cancelled()
            });
            (got, cancel::is_cancelled())
        });
        assert!(r.is_err(), "{r:?}");
        assert!(start.elapsed() < Duration::from_secs(5), "{:?}", start.elapsed());
        assert!(!inner.is_cancelled());

        // A wait that cannot fail, under both: it unwinds through the inner
        // scope (not its cancellation) to the outer one.
        let (outer, inner) = (Cancel::new(), Cancel::new());
        let (_tx, rx) = greenloop::sync::channel::bounded::<u32>(1);
        cancel_after(&outer, 20);
        let inner_returned = Rc::new(Cell::new(false));
        let flag = inner_returned.clone();
        let r = outer.run(|| {
            let got = inner.run(|| rx.recv());
            flag.set(true);
            got
        });
        assert!(r.is_err() && !inner_returned.get(), "{r:?}");

        // One handle scoping twice on one green thread: both scopes end.
        let c = Cancel::new();
        cancel_after(&c, 20);
        let start = Instant::now();
        let r = c.run(|| c.run(|| greenloop::sleep(Duration::from_secs(10))));
        assert!(r.is_err(), "{r:?}");
        assert!(start.elapsed() < Duration::from_secs(5), "{:?}", start.elapsed());
    });
}

#[test]
fn a_closed_scope_is_not_cut_short_by_its_old_handle() {
    greenloop::run(|| {
        // `a`'s scope ended (one by returning, one by a panic passing
        // through): cancelling `a` later leaves `b`'s scope alone, though it
        // runs on the same green thread.
        let a = Cancel::new();
        assert_eq!(a.run(|| 1), Ok(1));
        let unwound = greenloop::catch_unwind(|| a.run(|| panic!("through the scope")));
        assert!(unwound.is_err());
        let b = Cancel::new();
        let r = b.run(|| {
            a.cancel();
            greenloop::sleep(Duration::from_millis(30));
            cancel::is_cancelled()
        });
        assert_eq!(r, Ok(false));

        // And the other way: `b` cancelled, its handle reset, a new scope
        // under it runs to its end.
        b.cancel();
        assert!(b.run(|| greenloop::sleep(Duration::from_secs(10))).is_err());
        b.reset();
        assert_eq!(b.run(|| 7), Ok(7));
    });
}

#[test]
fn one_handle_cancels_its_scopes_on_several_green_threads() {
    greenloop::run(|| {
        let c = Cancel::new();
        let waiters: Vec<_> = (0..3)
            .map(|_| {
                let c = c.clone();
                greenloop::spawn(move || {
                    let start = Instant::now();
                    let r = c.run(|| greenloop::sleep(Duration::from_secs(10)));
                    (r.is_err(), start.elapsed())
                })
            })
            .collect();
        cancel_after(&c, 20);
        for w in waiters {
            let (cut, took) = w.join().unwrap();
            assert!(cut && took < Duration::from_secs(5), "{cut} {took:?}");
        }
    });
}

#[test]
fn a_handlers_own_scope_ends_when_its_client_leaves_and_its_own_cancel_is_no_499() {
    use greenloop::http::{Router, Server, get};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    // How long the handler's inner sleep lasted, in ms (0: not finished yet).
    let slept = Arc::new(AtomicU64::new(0));
    let seen = slept.clone();
    let app = Router::new()
        .route(
            "/inner-wait",
            get(move |_req| {
                let start = Instant::now();
                let own = Cancel::new();
                let r = own.run(|| greenloop::sleep(Duration::from_secs(10)));
                seen.store(start.elapsed().as_millis() as u64 + 1, Ordering::SeqCst);
                format!("{r:?}")
            }),
        )
        .route(
            "/own-cancel",
            get(|_req| {
                let own = Cancel::new();
                cancel_after(&own, 10);
                let r = own.run(|| greenloop::sleep(Duration::from_secs(10)));
                format!("own scope: {}", if r.is_err() { "cancelled" } else { "ran out" })
            }),
        );
    let server = Server::bind("127.0.0.1:0").handle_signals(false).start(app).expect("server starts");
    let addr = server.local_addr().unwrap();

    // The client leaves: the wait in the handler's own scope ends too.
    leave_mid_request(addr, b"GET /inner-wait HTTP/1.1\r\nHost: x\r\n\r\n", || slept.load(Ordering::SeqCst) != 0);
    let ms = slept.load(Ordering::SeqCst);
    assert!(ms > 0 && ms < 5000, "the inner scope's 10 s sleep should end when the client leaves: {ms} ms");

    // The handler cancels its own scope: an ordinary answer on a connection
    // that stays open, twice.
    let out = ask(
        addr,
        b"GET /own-cancel HTTP/1.1\r\nHost: x\r\n\r\nGET /own-cancel HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(out.matches("HTTP/1.1 200").count(), 2, "{out}");
    assert_eq!(out.matches("own scope: cancelled").count(), 2, "{out}");
    server.stop().expect("no worker panicked");
}

/// The access log's lines, kept (the only `log` backend of this test binary).
static ACCESS_LINES: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

struct KeepAccessLines;

impl log::Log for KeepAccessLines {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.target() == "greenloop::access"
    }
    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            ACCESS_LINES.lock().unwrap().push(record.args().to_string());
        }
    }
    fn flush(&self) {}
}

#[test]
fn the_access_log_records_a_departed_client_as_499_and_a_panic_as_500() {
    use greenloop::http::middleware::AccessLog;
    use greenloop::http::{App, Router, Server, get};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    log::set_logger(&KeepAccessLines).expect("no other logger in this test binary");
    log::set_max_level(log::LevelFilter::Info);
    let ended = Arc::new(AtomicBool::new(false));
    let end = ended.clone();
    let router = Router::new()
        .route(
            "/gone",
            get(move |_req| {
                // Set however the handler ends (the cancelled wait unwinds).
                struct Mark(Arc<AtomicBool>);
                impl Drop for Mark {
                    fn drop(&mut self) {
                        self.0.store(true, Ordering::SeqCst);
                    }
                }
                let _mark = Mark(end.clone());
                let (_tx, rx) = greenloop::sync::channel::bounded::<u32>(1);
                let _ = rx.recv();
                "never"
            }),
        )
        .route("/boom", get(|_req| -> &'static str { panic!("handler panicked on purpose") }));
    let app = App::from(router).wrap(AccessLog::new());
    let server = Server::bind("127.0.0.1:0").handle_signals(false).start(app).expect("server starts");
    let addr = server.local_addr().unwrap();

    leave_mid_request(addr, b"GET /gone HTTP/1.1\r\nHost: x\r\n\r\n", || ended.load(Ordering::SeqCst));
    assert!(ended.load(Ordering::SeqCst), "the handler's wait should end when its client leaves");

    let out = ask(addr, b"GET /boom HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(out.starts_with("HTTP/1.1 500"), "{out}");
    server.stop().expect("no worker panicked");

    AccessLog::flush();
    let lines = ACCESS_LINES.lock().unwrap().clone();
    let status = |uri: &str| {
        let line = lines.iter().find(|l| l.contains(&format!("uri={uri} "))).unwrap_or_else(|| panic!("{lines:?}"));
        line.split(' ').find_map(|f| f.strip_prefix("status=")).map(str::to_owned)
    };
    assert_eq!(status("/gone").as_deref(), Some("499"), "{lines:?}");
    assert_eq!(status("/boom").as_deref(), Some("500"), "{lines:?}");
}
