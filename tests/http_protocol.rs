//! The HTTP server's protocol behaviour, end to end over loopback: raw
//! `std::net::TcpStream`s for exact-bytes checks and `ureq` as an independent
//! client. Every socket read has a timeout, so a bug fails a test instead of
//! hanging it; time bounds are generous (CI has two busy cores).

use std::io::{self, BufReader, Cursor, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use greenloop::http::{
    App, ConnInfo, IntoResponse, Limits, Request, Response, ResponseBody, RunningServer, Server, StatusCode,
};

mod support;
use support::raw::{IO_TIMEOUT, RawClient, Resp, read_response};

// ---------------------------------------------------------------------------
// Helpers: starting servers, the routes most tests share, requests.
// ---------------------------------------------------------------------------

fn start(app: impl Fn(Request) -> Response + Send + Sync + 'static) -> RunningServer {
    start_with(Limits::default(), app)
}

fn start_with(limits: Limits, app: impl Fn(Request) -> Response + Send + Sync + 'static) -> RunningServer {
    Server::bind("127.0.0.1:0").handle_signals(false).limits(limits).start(app).expect("server starts")
}

/// The configurations the body tests run in: the app alone, and behind an
/// access log that peeks at bodies (the demo's default), which hands the
/// handler a body whose first bytes were read and put back.
const CONFIGS: [Config; 2] = [Config::Bare, Config::AccessLog];

#[derive(Clone, Copy, Debug)]
enum Config {
    Bare,
    AccessLog,
}

fn start_in(config: Config, app: impl Fn(Request) -> Response + Send + Sync + 'static) -> RunningServer {
    let app = match config {
        Config::Bare => App::new(app),
        Config::AccessLog => support::access_log::logged(app),
    };
    Server::bind("127.0.0.1:0").handle_signals(false).start(app).expect("server starts")
}

fn addr(server: &RunningServer) -> SocketAddr {
    server.local_addr().expect("a TCP address")
}

/// The routes most tests share.
fn app(req: Request) -> Response {
    let path = req.uri().path().to_owned();
    match path.as_str() {
        "/" | "/hello" => "hello".into_response(),
        // Streams the request body straight back (chunked when the request was).
        "/echo" => Response::new(ResponseBody::from(req.into_body())),
        // Reads the whole body first (up to 64 MiB: the server's own limit applies first).
        "/echo-vec" => req.into_body().read_to_vec(64 << 20).into_response(),
        "/ignore" => "ignored".into_response(),
        "/204" => (StatusCode::NO_CONTENT, "a 204 must not carry this").into_response(),
        "/304" => {
            let mut r = Response::new(ResponseBody::from("a 304 must not carry this"));
            *r.status_mut() = StatusCode::NOT_MODIFIED;
            r
        }
        "/panic" => panic!("handler panicked on purpose"),
        "/peer" => {
            let info = req.extensions().get::<ConnInfo>().copied().expect("ConnInfo is set");
            format!("{}", info.peer.expect("a TCP peer").port()).into_response()
        }
        "/version" => format!("{:?}", req.version()).into_response(),
        p if p.starts_with("/sleep/") => {
            let ms: u64 = p["/sleep/".len()..].parse().unwrap();
            greenloop::sleep(Duration::from_millis(ms));
            format!("slept {ms}").into_response()
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n")
}

fn agent() -> ureq::Agent {
    ureq::Agent::new_with_config(
        ureq::Agent::config_builder().http_status_as_error(false).timeout_global(Some(IO_TIMEOUT)).build(),
    )
}

/// Asserts the shape every error answer has: a short text reason, and the
/// connection closed after it.
fn assert_error_answer(c: &mut RawClient, resp: &Resp, status: u16, what: &str) {
    assert_eq!(resp.status, status, "{what}: {resp:?} body {:?}", resp.text());
    assert!(resp.header("content-type").is_some_and(|t| t.starts_with("text/plain")), "{what}: {resp:?}");
    let reason = resp.text();
    assert!(!reason.trim().is_empty() && reason.len() < 200, "{what}: reason {reason:?}");
    assert!(resp.closes(), "{what}: an error answer must announce Connection: close: {resp:?}");
    c.expect_closed();
}

/// Polls `cond` (a few ms apart) until it holds, failing after `IO_TIMEOUT`.
fn wait_until(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + IO_TIMEOUT;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        thread::sleep(Duration::from_millis(2));
    }
}

// ---------------------------------------------------------------------------
// Keep-alive
// ---------------------------------------------------------------------------

#[test]
fn keep_alive_http11_serves_many_requests_on_one_connection() {
    let server = start(app);
    let mut c = RawClient::connect(addr(&server));
    for i in 0..5 {
        c.send(get("/hello"));
        let r = c.response();
        assert_eq!(r.status, 200, "request {i}");
        assert_eq!(r.body, b"hello");
        assert!(!r.closes(), "HTTP/1.1 keeps the connection by default: {r:?}");
        assert_eq!(r.header("content-length"), Some("5"));
        assert!(r.has_header("date") && r.has_header("server"), "{r:?}");
    }
    // An independent client reuses its pooled connection: same peer port every time.
    let agent = agent();
    let url = format!("http://{}/peer", addr(&server));
    let ports: Vec<String> =
        (0..3).map(|_| agent.get(&url).call().unwrap().body_mut().read_to_string().unwrap()).collect();
    assert!(ports.iter().all(|p| p == &ports[0]), "ureq's requests came on different connections: {ports:?}");
    server.stop().unwrap();
}

#[test]
fn date_and_server_come_once_each_whoever_sets_them() {
    fn all<'r>(r: &'r Resp, name: &str) -> Vec<&'r str> {
        r.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str()).collect()
    }
    fn date_server(r: &Resp) -> (Vec<&str>, Vec<&str>) {
        (all(r, "date"), all(r, "server"))
    }
    let handler = |req: Request| {
        let mut r = "hi".into_response();
        let set = req.uri().query().unwrap_or("");
        if set.contains("date") {
            r.headers_mut().insert("date", "Thu, 01 Jan 2026 00:00:00 GMT".parse().unwrap());
        }
        if set.contains("server") {
            r.headers_mut().insert("server", "mine".parse().unwrap());
        }
        r
    };
    for name in ["greenloop", ""] {
        let server = Server::bind("127.0.0.1:0").handle_signals(false).server_name(name).start(handler).unwrap();
        let mut c = RawClient::connect(addr(&server));
        for query in ["", "date", "server", "date,server"] {
            c.send(get(&format!("/?{query}")));
            let r = c.response();
            let (dates, servers) = date_server(&r);
            let want_date = if query.contains("date") { "Thu, 01 Jan 2026 00:00:00 GMT" } else { dates[0] };
            assert_eq!(dates, [want_date], "one Date (name {name:?}, handler set {query:?}): {r:?}");
            assert!(want_date.ends_with(" GMT") && want_date.len() == 29, "{want_date:?}");
            let want_server: &[&str] = match (query.contains("server"), name) {
                (true, _) => &["mine"],
                (false, "") => &[],
                (false, _) => &["greenloop"],
            };
            assert_eq!(servers, want_server, "Server (name {name:?}, handler set {query:?}): {r:?}");
        }
        server.stop().unwrap();
    }
}

#[test]
fn keep_alive_http10_closes_unless_asked() {
    let server = start(app);
    let a = addr(&server);

    let mut c = RawClient::connect(a);
    c.send("GET /version HTTP/1.0\r\n\r\n");
    let r = c.response();
    assert_eq!((r.status, r.text().as_str()), (200, "HTTP/1.0"));
    assert!(r.closes(), "HTTP/1.0 without keep-alive must say close: {r:?}");
    c.expect_closed();

    let mut c = RawClient::connect(a);
    for _ in 0..3 {
        c.send("GET /version HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        let r = c.response();
        assert_eq!((r.status, r.text().as_str()), (200, "HTTP/1.0"));
        assert_eq!(r.header("connection").map(str::to_ascii_lowercase).as_deref(), Some("keep-alive"));
    }
    server.stop().unwrap();
}

#[test]
fn keep_alive_http11_connection_close_closes_after_the_response() {
    let server = start(app);
    let mut c = RawClient::connect(addr(&server));
    c.send("GET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    let r = c.response();
    assert_eq!((r.status, r.body.as_slice()), (200, &b"hello"[..]));
    assert!(r.closes(), "{r:?}");
    c.expect_closed();
    server.stop().unwrap();
}

// ---------------------------------------------------------------------------
// Pipelining
// ---------------------------------------------------------------------------

#[test]
fn pipelined_requests_are_answered_in_order_in_one_batch() {
    let handled = Arc::new(AtomicUsize::new(0));
    let h = handled.clone();
    let server = start(move |req: Request| -> Response {
        let i: u64 = req.uri().path().trim_start_matches("/p/").parse().unwrap();
        // Earlier requests sleep longer: answering in completion order would show.
        greenloop::sleep(Duration::from_millis((10 - i) * 15));
        h.fetch_add(1, Ordering::SeqCst);
        format!("response {i}").into_response()
    });
    let s = TcpStream::connect(addr(&server)).unwrap();
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let batch: String = (0..10).map(|i| get(&format!("/p/{i}"))).collect();
    (&s).write_all(batch.as_bytes()).unwrap();

    // Wait for the first response byte: by then every handler must have run,
    // because the ten responses are written together.
    let mut b = [0u8; 1];
    assert_eq!(s.peek(&mut b).unwrap(), 1);
    assert_eq!(handled.load(Ordering::SeqCst), 10, "a response was written before the batch was complete");

    // All ten are already here: read what is available without waiting.
    s.set_nonblocking(true).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match (&s).read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) => panic!("{e}"),
        }
    }
    let mut cur = Cursor::new(got);
    for i in 0..10 {
        let r = read_response(&mut cur, false).unwrap_or_else(|e| panic!("response {i} not in the batch: {e}"));
        assert_eq!(r.status, 200);
        assert_eq!(r.text(), format!("response {i}"), "responses out of order");
    }
    assert_eq!(cur.position() as usize, cur.get_ref().len(), "unexpected extra bytes");
    server.stop().unwrap();
}

// ---------------------------------------------------------------------------
// Request bodies
// ---------------------------------------------------------------------------

#[test]
fn content_length_body_is_echoed() {
    for config in CONFIGS {
        let server = start_in(config, app);
        let mut c = RawClient::connect(addr(&server));
        for path in ["/echo", "/echo-vec"] {
            c.send(format!("POST {path} HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\nhello world"));
            let r = c.response();
            assert_eq!((r.status, r.text().as_str()), (200, "hello world"), "{config:?} {path}");
            assert_eq!(r.header("content-length"), Some("11"), "{config:?} {path}");
        }
        // Longer than the access log's peek: part put back, part still on the wire.
        let big: String = (0..100_000).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
        c.send(format!("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n{big}", big.len()));
        let r = c.response();
        assert_eq!(r.header("content-length"), Some("100000"), "{config:?}");
        assert!(r.status == 200 && r.text() == big, "{config:?}: the echo differs");
        // The connection is still in step: the next request parses.
        c.send(get("/hello"));
        assert_eq!(c.response().text(), "hello", "{config:?}");
        // ureq as the client, same connection reused or not.
        let body = agent()
            .post(format!("http://{}/echo", addr(&server)))
            .send(&b"from ureq"[..])
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap();
        assert_eq!(body, "from ureq", "{config:?}");
        server.stop().unwrap();
    }
}

#[test]
fn chunked_body_with_extensions_and_trailers_is_echoed() {
    for config in CONFIGS {
        let server = start_in(config, app);
        let mut c = RawClient::connect(addr(&server));
        let body = "5;name=value\r\nhello\r\n7;q=\"a;b\"\r\n, world\r\n0;last\r\nX-Trailer: yes\r\nOther: 1\r\n\r\n";
        for path in ["/echo", "/echo-vec"] {
            c.send(format!("POST {path} HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n{body}"));
            let r = c.response();
            assert_eq!((r.status, r.text().as_str()), (200, "hello, world"), "{config:?} {path}");
            assert!(!r.closes(), "{config:?} {path}: {r:?}");
        }
        // The trailers were consumed as part of the body: the next request parses.
        c.send(get("/hello"));
        assert_eq!(c.response().body, b"hello", "{config:?}");
        server.stop().unwrap();
    }
}

#[test]
fn five_mib_chunked_upload_is_streamed_back_intact() {
    for config in CONFIGS {
        five_mib_chunked_upload_in(config);
    }
}

fn five_mib_chunked_upload_in(config: Config) {
    let server = start_in(config, app);
    let s = TcpStream::connect(addr(&server)).unwrap();
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let data: Vec<u8> = (0..5u32 << 20).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    let sent = data.clone();
    let mut w = s.try_clone().unwrap();
    // Write from another thread: the server echoes while we are still sending.
    let writer = thread::spawn(move || {
        w.write_all(b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n").unwrap();
        for (k, piece) in sent.chunks(50_000).enumerate() {
            let mut chunk = format!("{:x}", piece.len());
            if k % 7 == 0 {
                chunk.push_str(";ext=1");
            }
            chunk.push_str("\r\n");
            w.write_all(chunk.as_bytes()).unwrap();
            w.write_all(piece).unwrap();
            w.write_all(b"\r\n").unwrap();
        }
        w.write_all(b"0\r\n\r\n").unwrap();
    });
    let mut r = BufReader::new(s);
    let resp = read_response(&mut r, false).unwrap();
    writer.join().unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("transfer-encoding"), Some("chunked"));
    assert_eq!(resp.body.len(), data.len());
    assert!(resp.body == data, "echoed bytes differ");
    server.stop().unwrap();
}

#[test]
fn a_megabyte_chunk_extension_is_skipped_by_a_streamed_echo() {
    let server = start(app);
    let mut c = RawClient::connect(addr(&server));
    let mut w = c.w.try_clone().unwrap();
    let writer = thread::spawn(move || {
        let mut req =
            b"POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n7;e=".to_vec();
        req.extend(std::iter::repeat_n(b'x', 1 << 20));
        req.extend_from_slice(b"\r\n, world\r\n0\r\n\r\n");
        w.write_all(&req).unwrap();
    });
    let r = c.response();
    writer.join().unwrap();
    assert_eq!((r.status, r.text().as_str()), (200, "hello, world"), "{r:?}");
    assert!(!r.closes(), "{r:?}");
    c.send(get("/hello"));
    assert_eq!(c.response().text(), "hello");
    server.stop().unwrap();
}

#[test]
fn slow_upload_does_not_block_other_clients() {
    let reading = Arc::new(AtomicBool::new(false));
    let flag = reading.clone();
    let server = start(move |req: Request| -> Response {
        if req.uri().path() == "/upload" {
            flag.store(true, Ordering::SeqCst);
            return req.into_body().read_to_vec(1 << 20).into_response();
        }
        app(req)
    });
    let mut slow = RawClient::connect(addr(&server));
    slow.send("POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 30\r\n\r\n0123456789");
    wait_until("the upload handler is reading", || reading.load(Ordering::SeqCst));

    // The upload handler is parked mid-body on the only worker; another client is served.
    let mut resp = agent().get(format!("http://{}/hello", addr(&server))).call().unwrap();
    assert_eq!(resp.body_mut().read_to_string().unwrap(), "hello");

    for piece in ["abcdefghij", "ABCDE", "FGHIJ"] {
        thread::sleep(Duration::from_millis(20));
        slow.send(piece);
    }
    let r = slow.response();
    assert_eq!((r.status, r.text().as_str()), (200, "0123456789abcdefghijABCDEFGHIJ"));
    server.stop().unwrap();
}

// ---------------------------------------------------------------------------
// Unread bodies
// ---------------------------------------------------------------------------

#[test]
fn small_unread_body_is_skipped_not_parsed_as_a_request() {
    let server = start(app);
    let mut c = RawClient::connect(addr(&server));
    // The body itself looks like the start of a request.
    c.send("POST /ignore HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nGET /x HTT");
    c.send(get("/hello"));
    let r = c.response();
    assert_eq!((r.status, r.text().as_str()), (200, "ignored"));
    assert!(!r.closes());
    let r = c.response();
    assert_eq!((r.status, r.text().as_str()), (200, "hello"));
    // Same with a chunked body.
    c.send("POST /ignore HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
    c.send(get("/hello"));
    assert_eq!(c.response().text(), "ignored");
    assert_eq!(c.response().text(), "hello");
    server.stop().unwrap();
}

#[test]
fn large_unread_body_closes_the_connection_and_is_never_parsed() {
    let evil = Arc::new(AtomicUsize::new(0));
    let e = evil.clone();
    let server = start(move |req: Request| -> Response {
        if req.uri().path() == "/evil" {
            e.fetch_add(1, Ordering::SeqCst);
        }
        app(req)
    });
    let smuggled = get("/evil");
    let body: Vec<u8> = smuggled.as_bytes().iter().copied().cycle().take(smuggled.len() * 40_000).collect();
    assert!(body.len() > 1 << 20);
    let mut c = RawClient::connect(addr(&server));
    let mut w = c.w.try_clone().unwrap();
    let head = format!("POST /ignore HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n", body.len());
    let writer = thread::spawn(move || {
        // The server may close before all of this is sent: errors are expected.
        let _ = w.write_all(head.as_bytes()).and_then(|_| w.write_all(&body));
    });
    let r = c.response();
    assert_eq!((r.status, r.text().as_str()), (200, "ignored"));
    assert!(r.closes(), "a body over the drain limit must close the connection: {r:?}");
    c.expect_closed();
    writer.join().unwrap();
    assert_eq!(evil.load(Ordering::SeqCst), 0, "a request was parsed out of a body");
    // The server is fine.
    let mut c = RawClient::connect(addr(&server));
    c.send(get("/hello"));
    assert_eq!(c.response().text(), "hello");
    server.stop().unwrap();
}

#[test]
fn an_error_answer_does_not_wait_for_a_body_that_is_slow_to_come() {
    for config in CONFIGS {
        // A router's 404 and 405, and a handler that answers without reading.
        let router = greenloop::http::Router::new()
            .route("/only-get", greenloop::http::get(|_req: Request| "got"))
            .route("/ignore", greenloop::http::post(|_req: Request| "ignored"));
        let app = match config {
            Config::Bare => App::new(router),
            Config::AccessLog => support::access_log::logged(router),
        };
        let server = Server::bind("127.0.0.1:0").handle_signals(false).start(app).expect("server starts");
        for (path, status) in [("/nothere", 404), ("/only-get", 405), ("/ignore", 200)] {
            let what = format!("{config:?} {path}");
            // Within the drain limit: answered at once, the rest skipped, the connection kept.
            let mut c = RawClient::connect(addr(&server));
            let sent = Instant::now();
            c.send(format!("POST {path} HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\n\r\n{}", "x".repeat(1000)));
            let r = c.response();
            let took = sent.elapsed();
            assert_eq!(r.status, status, "{what}");
            assert!(took < Duration::from_secs(2), "{what}: answered after {took:?}, waiting for the body");
            assert!(!r.closes(), "{what}: {r:?}");
            c.send("y".repeat(99_000));
            c.send(get("/only-get"));
            assert_eq!(c.response().text(), "got", "{what}: the next request after the skipped body");

            // Over the drain limit: answered at once, and the connection closes.
            let mut c = RawClient::connect(addr(&server));
            let sent = Instant::now();
            c.send(format!("POST {path} HTTP/1.1\r\nHost: t\r\nContent-Length: 10000000\r\n\r\n{}", "x".repeat(1000)));
            let r = c.response();
            let took = sent.elapsed();
            assert_eq!(r.status, status, "{what}");
            assert!(took < Duration::from_secs(2), "{what}: answered after {took:?}, waiting for the body");
            assert!(r.closes(), "{what}: a body too large to skip closes the connection: {r:?}");
        }
        server.stop().unwrap();
    }
}

// ---------------------------------------------------------------------------
// Expect: 100-continue
// ---------------------------------------------------------------------------

#[test]
fn expect_continue_is_sent_only_when_the_handler_reads() {
    let entered = Arc::new(AtomicBool::new(false));
    let go = Arc::new(AtomicBool::new(false));
    let (en, g) = (entered.clone(), go.clone());
    let server = start(move |req: Request| -> Response {
        match req.uri().path() {
            "/gated" => {
                en.store(true, Ordering::SeqCst);
                while !g.load(Ordering::SeqCst) {
                    greenloop::sleep(Duration::from_millis(2));
                }
                req.into_body().read_to_vec(1 << 20).into_response()
            }
            "/reject" => (StatusCode::FORBIDDEN, "no uploads here").into_response(),
            _ => app(req),
        }
    });
    let a = addr(&server);

    // The handler runs but has not read yet: no 100 Continue.
    let mut c = RawClient::connect(a);
    c.send("POST /gated HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
    wait_until("the handler runs", || entered.load(Ordering::SeqCst));
    assert!(!c.has_pending_bytes(), "100 Continue sent before the handler read the body");
    go.store(true, Ordering::SeqCst);
    let interim = c.response();
    assert_eq!(interim.status, 100, "{interim:?}");
    c.send("hello");
    let r = c.response();
    assert_eq!((r.status, r.text().as_str()), (200, "hello"));

    // A handler that answers without reading: the final answer, no 100.
    let mut c = RawClient::connect(a);
    c.send("POST /reject HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
    let r = c.response();
    assert_eq!((r.status, r.text().as_str()), (403, "no uploads here"));
    // The body was never requested, so the connection cannot continue.
    assert!(r.closes(), "{r:?}");
    c.expect_closed();

    // HTTP/1.0 clients never get a 100 (they send the body at once).
    let mut c = RawClient::connect(a);
    c.send("POST /echo-vec HTTP/1.0\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\nhello");
    let r = c.response();
    assert_eq!((r.status, r.text().as_str()), (200, "hello"));
    c.expect_closed();
    server.stop().unwrap();
}

#[test]
fn expect_continue_with_a_streamed_echo_precedes_the_final_head() {
    for config in CONFIGS {
        let server = start_in(config, app);
        for (framing, body) in
            [("Content-Length: 5", "hello"), ("Transfer-Encoding: chunked", "5\r\nhello\r\n0\r\n\r\n")]
        {
            let mut c = RawClient::connect(addr(&server));
            c.send(format!("POST /echo HTTP/1.1\r\nHost: t\r\n{framing}\r\nExpect: 100-continue\r\n\r\n"));
            let interim = c.response();
            assert_eq!(
                interim.status, 100,
                "{config:?} {framing}: the final head came before 100 Continue: {interim:?}"
            );
            c.send(body);
            let r = c.response();
            assert_eq!((r.status, r.text().as_str()), (200, "hello"), "{config:?} {framing}");
            c.send(get("/hello"));
            assert_eq!(c.response().text(), "hello", "{config:?} {framing}");
        }
        server.stop().unwrap();
    }
}

// ---------------------------------------------------------------------------
// Bodiless responses
// ---------------------------------------------------------------------------

#[test]
fn head_has_content_length_but_no_body() {
    let server = start(app);
    let mut c = RawClient::connect(addr(&server));
    // The GET right behind it would be misread if any body byte were sent.
    c.send(format!("HEAD /hello HTTP/1.1\r\nHost: t\r\n\r\n{}", get("/hello")));
    let r = c.head_response();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), Some("5"));
    let r = c.response();
    assert_eq!((r.status, r.text().as_str()), (200, "hello"));
    // A streamed body too: no chunk bytes after a HEAD head.
    c.send("HEAD /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc");
    c.send(get("/hello"));
    let r = c.head_response();
    assert_eq!(r.status, 200);
    let r = c.response();
    assert_eq!((r.status, r.text().as_str()), (200, "hello"));
    server.stop().unwrap();
}

#[test]
fn no_body_on_204_and_304() {
    let server = start(app);
    let mut c = RawClient::connect(addr(&server));
    for path in ["/204", "/304"] {
        c.send(get(path));
        c.send(get("/hello"));
        let r = c.response();
        assert_eq!(r.status, if path == "/204" { 204 } else { 304 });
        assert!(!r.has_header("transfer-encoding"), "{path}: {r:?}");
        if path == "/204" {
            assert!(!r.has_header("content-length"), "a 204 must not carry Content-Length: {r:?}");
        }
        let r = c.response();
        assert_eq!((r.status, r.text().as_str()), (200, "hello"), "{path} sent body bytes");
    }
    server.stop().unwrap();
}

// ---------------------------------------------------------------------------
// Framing attacks and malformed heads
// ---------------------------------------------------------------------------

#[test]
fn ambiguous_or_invalid_framing_is_rejected_and_closed() {
    let server = start(app);
    let cases: &[(&str, &str, &[u16])] = &[
        (
            "CL + TE",
            "POST /echo-vec HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
            &[400],
        ),
        (
            "two different Content-Lengths",
            "POST /echo-vec HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
            &[400],
        ),
        (
            "list of different lengths",
            "POST /echo-vec HTTP/1.1\r\nHost: t\r\nContent-Length: 5, 6\r\n\r\nhello!",
            &[400],
        ),
        ("Content-Length: +5", "POST /echo-vec HTTP/1.1\r\nHost: t\r\nContent-Length: +5\r\n\r\nhello", &[400]),
        ("Content-Length: -1", "POST /echo-vec HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\nhello", &[400]),
        ("Content-Length: 1 2", "POST /echo-vec HTTP/1.1\r\nHost: t\r\nContent-Length: 1 2\r\n\r\nhello", &[400]),
        (
            "TE gzip, chunked",
            "POST /echo-vec HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
            &[400, 501],
        ),
        (
            "TE chunked, gzip",
            "POST /echo-vec HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, gzip\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
            &[501],
        ),
        (
            "TE chunked twice",
            "POST /echo-vec HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            &[400],
        ),
        (
            "TE in HTTP/1.0",
            "POST /echo-vec HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
            &[400],
        ),
        (
            "invalid chunk size",
            "POST /echo-vec HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
            &[400],
        ),
        ("whitespace before colon", "GET / HTTP/1.1\r\nHost : t\r\n\r\n", &[400]),
        ("obs-fold", "GET / HTTP/1.1\r\nHost: t\r\nX-A: a\r\n b\r\n\r\n", &[400]),
        ("missing Host", "GET / HTTP/1.1\r\nAccept: */*\r\n\r\n", &[400]),
        ("duplicate Host", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", &[400]),
        ("unknown expectation", "GET / HTTP/1.1\r\nHost: t\r\nExpect: magic\r\n\r\n", &[417]),
        ("HTTP/2.0 request line", "GET / HTTP/2.0\r\nHost: t\r\n\r\n", &[505]),
    ];
    for &(what, raw, statuses) in cases {
        let mut c = RawClient::connect(addr(&server));
        c.send(raw);
        // Anything pipelined behind must not be answered.
        c.send(get("/hello"));
        let r = c.response();
        assert!(statuses.contains(&r.status), "{what}: expected {statuses:?}, got {r:?} {:?}", r.text());
        assert_error_answer(&mut c, &r, r.status, what);
    }
    server.stop().unwrap();
}

#[test]
fn a_malformed_request_line_is_400_and_only_a_well_formed_other_version_is_505() {
    let server = start(app);
    for line in ["GE T / HTTP/1.1", "GET  / HTTP/1.1", "GET / x HTTP/1.1", "GET HTTP/1.1", "GE T / HTTP/2.0"] {
        let mut c = RawClient::connect(addr(&server));
        c.send(format!("{line}\r\nHost: t\r\n\r\n"));
        let r = c.response();
        assert_error_answer(&mut c, &r, 400, line);
    }
    let mut c = RawClient::connect(addr(&server));
    c.send("GET / HTTP/2.0\r\nHost: t\r\n\r\n");
    let r = c.response();
    assert_error_answer(&mut c, &r, 505, "HTTP/2.0");
    server.stop().unwrap();
}

#[test]
fn malformed_chunk_in_an_unread_body_closes_the_connection() {
    let server = start(app);
    let mut c = RawClient::connect(addr(&server));
    c.send("POST /ignore HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nGET /hello HTTP/1.1\r\n\r\n");
    let r = c.response();
    assert!(r.closes(), "the body's framing is broken, the connection must end: {r:?}");
    c.expect_closed();
    server.stop().unwrap();
}

// ---------------------------------------------------------------------------
// Limits and timeouts
// ---------------------------------------------------------------------------

fn small_limits() -> Limits {
    Limits { max_head_bytes: 1024, max_headers: 10, max_request_line: 256, max_body_bytes: 1000, ..Default::default() }
}

#[test]
fn head_too_large_is_431() {
    let server = start_with(small_limits(), app);
    let mut c = RawClient::connect(addr(&server));
    c.send(format!("GET / HTTP/1.1\r\nHost: t\r\nX-Big: {}\r\n\r\n", "a".repeat(2000)));
    let r = c.response();
    assert_error_answer(&mut c, &r, 431, "head too large");
    server.stop().unwrap();
}

#[test]
fn too_many_headers_is_431() {
    let server = start_with(small_limits(), app);
    let mut c = RawClient::connect(addr(&server));
    let headers: String = (0..20).map(|i| format!("X-H{i}: v\r\n")).collect();
    c.send(format!("GET / HTTP/1.1\r\nHost: t\r\n{headers}\r\n"));
    let r = c.response();
    assert_error_answer(&mut c, &r, 431, "too many headers");
    server.stop().unwrap();
}

#[test]
fn request_line_too_long_is_414() {
    let server = start_with(small_limits(), app);
    let mut c = RawClient::connect(addr(&server));
    c.send(format!("GET /{} HTTP/1.1\r\nHost: t\r\n\r\n", "a".repeat(500)));
    let r = c.response();
    assert_error_answer(&mut c, &r, 414, "request line too long");
    // Also when the line has not even ended yet.
    let mut c = RawClient::connect(addr(&server));
    c.send(format!("GET /{}", "a".repeat(500)));
    let r = c.response();
    assert_error_answer(&mut c, &r, 414, "unfinished request line too long");
    server.stop().unwrap();
}

#[test]
fn declared_body_over_the_limit_is_413() {
    let server = start_with(small_limits(), app);
    let mut c = RawClient::connect(addr(&server));
    c.send("POST /echo-vec HTTP/1.1\r\nHost: t\r\nContent-Length: 5000\r\n\r\n");
    let r = c.response();
    assert_error_answer(&mut c, &r, 413, "Content-Length over the limit");
    server.stop().unwrap();
}

#[test]
fn chunked_body_growing_over_the_limit_is_413() {
    let server = start_with(small_limits(), app);
    let mut c = RawClient::connect(addr(&server));
    let chunk = format!("258\r\n{}\r\n", "x".repeat(600));
    c.send(format!(
        "POST /echo-vec HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n{chunk}{chunk}{chunk}0\r\n\r\n"
    ));
    let r = c.response();
    assert_eq!(r.status, 413, "{r:?} {:?}", r.text());
    assert!(!r.text().trim().is_empty());
    assert!(r.closes(), "{r:?}");
    c.expect_closed();

    // A handler's own smaller limit also maps to 413.
    let server2 = start(|req: Request| -> Response { req.into_body().read_to_vec(10).into_response() });
    let mut c = RawClient::connect(addr(&server2));
    c.send(
        "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n12345678\r\n8\r\n12345678\r\n0\r\n\r\n",
    );
    let r = c.response();
    assert_eq!(r.status, 413, "{r:?} {:?}", r.text());
    server.stop().unwrap();
    server2.stop().unwrap();
}

#[test]
fn slowloris_head_gets_408_after_header_timeout() {
    let limits = Limits { header_timeout: Duration::from_millis(300), ..Default::default() };
    let server = start_with(limits, app);

    // Half a head, then silence.
    let mut c = RawClient::connect(addr(&server));
    let t0 = Instant::now();
    c.send("GET / HTTP/1.1\r\nHost: t\r\n");
    let r = c.response();
    assert!(t0.elapsed() >= Duration::from_millis(250), "408 came too early: {:?}", t0.elapsed());
    assert_error_answer(&mut c, &r, 408, "stalled head");

    // Trickling one byte at a time does not reset the clock.
    let mut c = RawClient::connect(addr(&server));
    let mut w = c.w.try_clone().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let t0 = Instant::now();
    let trickler = thread::spawn(move || {
        let _ = w.write_all(b"GET / HTTP/1.1\r\nHost: t\r\n");
        for _ in 0..400 {
            if s.load(Ordering::SeqCst) || w.write_all(b"X").is_err() {
                return;
            }
            thread::sleep(Duration::from_millis(25));
        }
    });
    let r = c.response();
    stop.store(true, Ordering::SeqCst);
    let took = t0.elapsed();
    assert_eq!(r.status, 408, "{r:?}");
    assert!(took < Duration::from_secs(5), "a trickling head was allowed {took:?}");
    c.expect_closed();
    trickler.join().unwrap();
    server.stop().unwrap();
}

#[test]
fn idle_keep_alive_connections_are_closed_after_idle_timeout() {
    // The header timeout well under the client's 10 s read timeout: at its
    // default (10 s too) the silent connection below raced the client.
    let limits = Limits {
        idle_timeout: Duration::from_millis(300),
        header_timeout: Duration::from_secs(1),
        ..Default::default()
    };
    let server = start_with(limits, app);
    let mut c = RawClient::connect(addr(&server));
    // Timed from before the request: the idle time counts from the answer,
    // which comes after it (timing from when the answer was read would let
    // a slow test thread see the close "early").
    let t0 = Instant::now();
    c.send(get("/hello"));
    assert_eq!(c.response().text(), "hello");
    c.expect_closed();
    assert!(t0.elapsed() >= Duration::from_millis(300), "closed too early: {:?}", t0.elapsed());

    // A connection that never sends anything is closed too, silently.
    let mut c = RawClient::connect(addr(&server));
    c.expect_closed();
    server.stop().unwrap();
}

#[test]
fn connections_over_max_connections_wait_in_the_backlog_while_all_are_busy() {
    let limits = Limits { max_connections: 2, ..Default::default() };
    let server = start_with(limits, app);
    let a = addr(&server);
    let mut c1 = RawClient::connect(a);
    let mut c2 = RawClient::connect(a);
    for c in [&mut c1, &mut c2] {
        c.send(get("/hello"));
        assert_eq!(c.response().text(), "hello");
        c.send(get("/sleep/500")); // under the second a newcomer waits for a slot
    }
    // Not refused: the kernel completes the handshake and queues it.
    let mut c3 = RawClient::connect(a);
    c3.send(get("/hello"));
    c3.r.get_ref().set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    let mut b = [0u8; 1];
    match c3.r.get_ref().peek(&mut b) {
        Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {}
        other => panic!("a third connection was served over max_connections=2: {other:?}"),
    }
    c3.r.get_ref().set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    // The requests in flight are answered, and their connections kept.
    for c in [&mut c1, &mut c2] {
        let r = c.response();
        assert_eq!((r.text().as_str(), r.closes()), ("slept 500", false));
    }
    // Once they are idle, the one idle the longest makes room for the third.
    let r = c3.response();
    assert_eq!((r.status, r.text().as_str()), (200, "hello"));
    c1.expect_closed();
    c2.send(get("/hello"));
    assert_eq!(c2.response().text(), "hello");
    server.stop().unwrap();
}

// ---------------------------------------------------------------------------
// Panics
// ---------------------------------------------------------------------------

#[test]
fn a_panicking_handler_gets_500_and_harms_nobody_else() {
    let entered = Arc::new(AtomicUsize::new(0));
    let e = entered.clone();
    let server = start(move |req: Request| -> Response {
        if req.uri().path() == "/slow" {
            e.fetch_add(1, Ordering::SeqCst);
            greenloop::sleep(Duration::from_millis(300));
            return "slow done".into_response();
        }
        app(req)
    });
    let a = addr(&server);
    let mut slow = RawClient::connect(a);
    slow.send(get("/slow"));
    wait_until("the slow handler runs", || entered.load(Ordering::SeqCst) == 1);

    let mut c = RawClient::connect(a);
    c.send(get("/panic"));
    let r = c.response();
    assert_eq!(r.status, 500);
    assert!(r.header("content-type").is_some_and(|t| t.starts_with("text/plain")));
    assert!(!r.text().trim().is_empty());
    assert!(!r.text().contains("on purpose"), "panic text leaked to the client: {:?}", r.text());
    // The same connection keeps working.
    c.send(get("/hello"));
    assert_eq!(c.response().text(), "hello");
    // The concurrent request was unaffected.
    let r = slow.response();
    assert_eq!((r.status, r.text().as_str()), (200, "slow done"));
    // A panic with an unread body still frames the next request right.
    c.send("POST /panic HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nabcd");
    c.send(get("/hello"));
    assert_eq!(c.response().status, 500);
    assert_eq!(c.response().text(), "hello");
    server.stop().unwrap();
}

// ---------------------------------------------------------------------------
// Graceful shutdown, hooks and worker state
// ---------------------------------------------------------------------------

struct WorkerTag(&'static str);

#[test]
fn graceful_shutdown_finishes_requests_in_flight() {
    let started = Arc::new(AtomicUsize::new(0));
    let stopped = Arc::new(AtomicUsize::new(0));
    let entered = Arc::new(AtomicUsize::new(0));
    let (s1, s2, en) = (started.clone(), stopped.clone(), entered.clone());
    let server = Server::bind("127.0.0.1:0")
        .handle_signals(false)
        .workers(2)
        .on_worker_start(move || {
            s1.fetch_add(1, Ordering::SeqCst);
        })
        .on_worker_stop(move || {
            s2.fetch_add(1, Ordering::SeqCst);
        })
        .with_worker_state(|| WorkerTag("per-worker"))
        .start(move |_req: Request| -> Response {
            en.fetch_add(1, Ordering::SeqCst);
            greenloop::sleep(Duration::from_millis(500));
            let tag = greenloop::http::worker_state::<WorkerTag>().expect("worker state reachable");
            format!("done {}", tag.0).into_response()
        })
        .unwrap();
    let a = addr(&server);
    assert_eq!(started.load(Ordering::SeqCst), 2, "start hooks ran before start() returned");

    let (tx, rx) = mpsc::channel();
    let clients: Vec<_> = (0..20)
        .map(|_| {
            let tx = tx.clone();
            thread::spawn(move || {
                let mut c = RawClient::connect(a);
                c.send(get("/"));
                let r = read_response(&mut c.r, false);
                tx.send(r.map(|r| (r.status, r.text(), r.closes()))).unwrap();
            })
        })
        .collect();
    drop(tx);
    wait_until("all 20 requests are in their handlers", || entered.load(Ordering::SeqCst) == 20);
    let t0 = Instant::now();
    server.shutdown_handle().shutdown();
    let results: Vec<_> = rx.iter().collect();
    for c in clients {
        c.join().unwrap();
    }
    assert_eq!(results.len(), 20);
    for r in results {
        let (status, text, closes) = r.expect("a request in flight lost its response");
        assert_eq!((status, text.as_str()), (200, "done per-worker"));
        assert!(closes, "responses during shutdown must say Connection: close");
    }
    // The listeners are gone.
    let refused = TcpStream::connect(a);
    assert!(refused.is_err(), "new connections accepted after shutdown");
    server.join().unwrap();
    assert!(t0.elapsed() < Duration::from_secs(5), "shutdown took {:?}", t0.elapsed());
    assert_eq!(stopped.load(Ordering::SeqCst), 2, "stop hooks ran once per worker");
    assert!(TcpStream::connect(a).is_err());
}

// ---------------------------------------------------------------------------
// Concurrency, Unix sockets, garbage
// ---------------------------------------------------------------------------

#[test]
fn two_hundred_sleeping_requests_on_one_worker_finish_together() {
    let server = start(app);
    let a = addr(&server);
    let barrier = Arc::new(Barrier::new(201));
    let clients: Vec<_> = (0..200)
        .map(|_| {
            let b = barrier.clone();
            thread::spawn(move || {
                let mut c = RawClient::connect(a);
                b.wait();
                c.send(get("/sleep/1000"));
                let r = c.response();
                assert_eq!((r.status, r.text().as_str()), (200, "slept 1000"));
            })
        })
        .collect();
    barrier.wait();
    let t0 = Instant::now();
    for c in clients {
        c.join().unwrap();
    }
    let took = t0.elapsed();
    assert!(took >= Duration::from_millis(950), "{took:?}");
    assert!(took < Duration::from_secs(3), "200 one-second sleeps took {took:?} on one worker");
    server.stop().unwrap();
}

#[test]
fn serves_over_a_unix_socket() {
    let path = std::env::temp_dir().join(format!("greenloop-http-test-{}.sock", std::process::id()));
    let server = Server::bind_unix(&path).handle_signals(false).start(app).unwrap();
    assert!(server.local_addr().is_none());
    let s = std::os::unix::net::UnixStream::connect(&path).unwrap();
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    (&s).write_all(b"POST /echo HTTP/1.1\r\nHost: unix\r\nContent-Length: 4\r\n\r\nunix").unwrap();
    (&s).write_all(get("/hello").as_bytes()).unwrap();
    let mut r = BufReader::new(&s);
    let resp = read_response(&mut r, false).unwrap();
    assert_eq!((resp.status, resp.text().as_str()), (200, "unix"));
    assert_eq!(read_response(&mut r, false).unwrap().text(), "hello");
    drop(r);
    drop(s);
    server.stop().unwrap();
    let _ = std::fs::remove_file(&path);
}

#[test]
fn garbage_never_panics_or_hangs_the_server() {
    let limits = Limits { header_timeout: Duration::from_secs(2), ..Default::default() };
    let server = start_with(limits, app);
    let a = addr(&server);

    // Random bytes, ended so that the head looks complete.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for round in 0..30 {
        let len = 1 + (round * 37) % 700;
        let mut junk: Vec<u8> = (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 32) as u8
            })
            .collect();
        junk.extend_from_slice(b"\r\n\r\n");
        let mut c = RawClient::connect(a);
        c.send(&junk);
        match read_response(&mut c.r, false) {
            Ok(r) => {
                assert!((400..500).contains(&r.status) || r.status == 501 || r.status == 505, "round {round}: {r:?}");
                c.expect_closed();
            }
            // Closing without an answer is acceptable; hanging is not (the read would time out).
            Err(e) => assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof, "round {round}: {e}"),
        }
    }

    // A NUL in the request line.
    let mut c = RawClient::connect(a);
    c.send("GET /a\0b HTTP/1.1\r\nHost: t\r\n\r\n");
    let r = c.response();
    assert_error_answer(&mut c, &r, 400, "NUL in the request line");

    // A NUL and other control bytes in a header value.
    let mut c = RawClient::connect(a);
    c.send("GET / HTTP/1.1\r\nHost: t\r\nX-A: a\0b\r\n\r\n");
    let r = c.response();
    assert_error_answer(&mut c, &r, 400, "NUL in a header value");

    // An absurdly long header value (1 MiB, default 16 KiB head limit).
    let mut c = RawClient::connect(a);
    let mut w = c.w.try_clone().unwrap();
    let writer = thread::spawn(move || {
        let _ = w.write_all(b"GET / HTTP/1.1\r\nHost: t\r\nX-Long: ");
        let _ = w.write_all(&vec![b'a'; 1 << 20]);
        let _ = w.write_all(b"\r\n\r\n");
    });
    let r = c.response();
    assert_error_answer(&mut c, &r, 431, "1 MiB header value");
    writer.join().unwrap();

    // Half a request then EOF: closed, no answer needed, no hang.
    let mut c = RawClient::connect(a);
    c.send("GET / HT");
    c.w.shutdown(Shutdown::Write).unwrap();
    let rest = c.read_to_end();
    assert!(rest.is_empty() || rest.starts_with(b"HTTP/1.1 4"), "{:?}", String::from_utf8_lossy(&rest));

    // Still healthy.
    let mut c = RawClient::connect(a);
    c.send(get("/hello"));
    assert_eq!(c.response().text(), "hello");
    server.stop().expect("no worker panicked");
}

// ---------------------------------------------------------------------------
// Failures after the handler returned, and stalled bodies
// ---------------------------------------------------------------------------

#[test]
fn a_panicking_response_stream_closes_its_connection_and_frees_its_slot() {
    // One connection at a time: a leaked connection slot would lock everyone out.
    let limits = Limits { max_connections: 1, ..Default::default() };
    let server = Server::bind("127.0.0.1:0")
        .handle_signals(false)
        .limits(limits)
        .grace_period(Duration::from_secs(20))
        .start(|req: Request| -> Response {
            match req.uri().path() {
                "/stream-panic" => Response::new(ResponseBody::stream(|w| {
                    w.write_all(b"partial")?;
                    panic!("stream closure panicked on purpose")
                })),
                "/reader-panic" => {
                    struct Bad;
                    impl Read for Bad {
                        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                            panic!("body reader panicked on purpose")
                        }
                    }
                    Response::new(ResponseBody::from_reader(Bad, Some(10)))
                }
                "/extension-panic" => {
                    // Dropped by the server after the handler returned.
                    #[derive(Clone)]
                    struct Bad;
                    impl Drop for Bad {
                        fn drop(&mut self) {
                            panic!("response extension dropped with a panic on purpose")
                        }
                    }
                    let mut r = "fixed body".into_response();
                    r.extensions_mut().insert(Bad);
                    r
                }
                _ => app(req),
            }
        })
        .unwrap();
    let a = addr(&server);
    for path in ["/stream-panic", "/reader-panic", "/extension-panic"] {
        let mut c = RawClient::connect(a);
        c.send(get(path));
        // Whatever was sent, the connection must end (never hang).
        let _ = c.read_to_end();
        // The slot was given back: a new connection is served.
        let mut c = RawClient::connect(a);
        c.send(get("/hello"));
        assert_eq!(c.response().text(), "hello", "after {path}");
    }
    // And shutdown does not wait out the grace period for a connection that is gone.
    let t0 = Instant::now();
    server.stop().unwrap();
    assert!(t0.elapsed() < Duration::from_secs(10), "stop took {:?}", t0.elapsed());
}

#[test]
fn a_stalled_body_times_out_once() {
    let limits = Limits { body_timeout: Duration::from_millis(1500), ..Default::default() };
    let gave_up = Arc::new(std::sync::Mutex::new(None::<Instant>));
    let g = gave_up.clone();
    let server = start_with(limits, move |req: Request| -> Response {
        let mut body = req.into_body();
        let r = body.read_to_vec(1 << 20);
        *g.lock().unwrap() = Some(Instant::now());
        // Reading on after the error must not look like a clean end of the body.
        let again = body.read(&mut [0u8; 16]);
        let mut resp = r.into_response();
        resp.headers_mut().insert("x-read-again", format!("{}", again.is_err()).parse().unwrap());
        resp
    });
    let mut c = RawClient::connect(addr(&server));
    c.send("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n12345");
    let r = c.response();
    let answered = Instant::now();
    assert_eq!(r.status, 408, "{r:?} {:?}", r.text());
    assert!(r.closes(), "{r:?}");
    assert_eq!(r.header("x-read-again"), Some("true"), "a read after the timeout returned Ok");
    let gave_up = gave_up.lock().unwrap().expect("the handler saw the timeout");
    // The handler's read timed out; answering must not wait for a second timeout.
    let lag = answered - gave_up;
    assert!(lag < Duration::from_millis(1000), "the 408 was held back {lag:?} after the read timed out");
    c.expect_closed();
    server.stop().unwrap();
}

#[test]
fn streamed_response_to_http10_is_close_delimited() {
    let server = start(|_req: Request| -> Response {
        Response::new(ResponseBody::stream(|w| {
            for i in 0..3 {
                write!(w, "piece {i};")?;
            }
            Ok(())
        }))
    });
    let mut c = RawClient::connect(addr(&server));
    c.send("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    // No Content-Length, no chunking (HTTP/1.0 has none): the body ends at EOF.
    let r = c.response();
    assert_eq!(r.status, 200);
    assert!(!r.has_header("transfer-encoding") && !r.has_header("content-length"), "{r:?}");
    assert!(r.closes(), "{r:?}");
    assert_eq!(r.text(), "piece 0;piece 1;piece 2;");
    // The same over HTTP/1.1 is chunked and keeps the connection.
    let mut c = RawClient::connect(addr(&server));
    c.send(get("/"));
    let r = c.response();
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    assert_eq!(r.text(), "piece 0;piece 1;piece 2;");
    c.send(get("/"));
    assert_eq!(c.response().text(), "piece 0;piece 1;piece 2;");
    server.stop().unwrap();
}

#[test]
fn shutdown_closes_idle_keep_alive_connections_at_once() {
    // The grace period is long: only connections with a request in flight may use it.
    let server =
        Server::bind("127.0.0.1:0").handle_signals(false).grace_period(Duration::from_secs(60)).start(app).unwrap();
    let mut idle = RawClient::connect(addr(&server));
    idle.send(get("/hello"));
    assert_eq!(idle.response().text(), "hello");
    let _never_spoke = RawClient::connect(addr(&server));
    let t0 = Instant::now();
    server.stop().unwrap();
    assert!(t0.elapsed() < Duration::from_secs(10), "stop waited {:?} for idle connections", t0.elapsed());
    idle.expect_closed();
}

#[test]
fn a_client_that_stops_reading_is_cut_off_after_write_timeout() {
    let limits = Limits { write_timeout: Duration::from_millis(500), ..Default::default() };
    let server = Server::bind("127.0.0.1:0")
        .handle_signals(false)
        .limits(limits)
        .grace_period(Duration::from_secs(60))
        .start(|req: Request| -> Response {
            if req.uri().path() != "/firehose" {
                return app(req);
            }
            Response::new(ResponseBody::stream(|w| {
                let block = vec![b'x'; 64 * 1024];
                loop {
                    w.write_all(&block)?; // parks on back-pressure, fails after write_timeout
                }
            }))
        })
        .unwrap();
    let mut stalled = RawClient::connect(addr(&server));
    stalled.send(get("/firehose"));
    // Make sure the stream has started (and filled the socket buffers).
    let mut b = [0u8; 1];
    assert_eq!(stalled.r.get_ref().peek(&mut b).unwrap(), 1);
    // Others are served meanwhile.
    let mut c = RawClient::connect(addr(&server));
    c.send(get("/hello"));
    assert_eq!(c.response().text(), "hello");
    drop(c);
    // The stalled writer gives up, so shutdown does not wait out the grace period.
    let t0 = Instant::now();
    server.stop().unwrap();
    assert!(t0.elapsed() < Duration::from_secs(20), "stop waited {:?} on a stalled writer", t0.elapsed());
    drop(stalled);
}

#[test]
fn an_upload_over_the_limit_is_refused_then_drained_not_reset() {
    // The server refuses the declared length at once, while the client is
    // still sending. Closing with unread input would make the kernel answer
    // the rest of the upload with a reset, which can destroy a response still
    // in flight; instead the server shuts down its side and drains for a
    // while: the client sees the 413, then end of stream, and its remaining
    // writes succeed.
    let limits = Limits { max_body_bytes: 64 * 1024, ..Limits::default() };
    let server = start_with(limits, app);
    let mut c = RawClient::connect(addr(&server));
    c.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4194304\r\n\r\n");
    let resp = c.response();
    assert_eq!(resp.status, 413);
    assert!(c.read_to_end().is_empty(), "nothing after the 413 but end of stream");
    let chunk = vec![b'x'; 64 * 1024];
    for i in 0..8 {
        if let Err(e) = c.w.write_all(&chunk) {
            panic!("write {i} of the rest of the upload failed: {e} (the server reset instead of draining)");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    drop(c);
    server.stop().unwrap();
}

#[test]
fn a_body_read_after_its_request_was_answered_fails_cleanly() {
    // A handler hands the body to another green thread and answers at once.
    // That late reader must get an error, not the next request's bytes, and
    // the connection must go on serving the pipelined request behind it.
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let tx = std::sync::Mutex::new(tx);
    let server = start(move |req: Request| {
        if req.uri().path() == "/later" {
            let mut body = req.into_body();
            let tx = tx.lock().unwrap().clone();
            greenloop::spawn(move || {
                greenloop::sleep(Duration::from_millis(50));
                let mut buf = Vec::new();
                let outcome = match body.read_to_end(&mut buf) {
                    Ok(n) => format!("read {n} bytes: {:?}", String::from_utf8_lossy(&buf)),
                    Err(e) => format!("error: {e}"),
                };
                let _ = tx.send(outcome);
            });
            return (StatusCode::ACCEPTED, "later\n").into_response();
        }
        app(req)
    });
    let mut c = RawClient::connect(addr(&server));
    c.send("POST /later HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhelloGET /hello HTTP/1.1\r\nHost: t\r\n\r\n");
    assert_eq!(c.response().status, 202);
    let second = c.response();
    assert_eq!(second.status, 200, "the pipelined request behind it is answered");
    // A request whose body is still to come, so a late reader could steal it.
    c.send("POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\n");
    let late = rx.recv_timeout(Duration::from_secs(5)).expect("the late reader reports");
    assert!(late.starts_with("error:") && late.contains("already answered"), "late reader got: {late}");
    c.send("ping");
    let echoed = c.response();
    assert_eq!((echoed.status, echoed.body.as_slice()), (200, &b"ping"[..]));
    drop(c);
    server.stop().unwrap();
}

/// Successive heads on one connection are read where they arrived
/// (`codec::RawHead`, whose buffers are recycled from request to request):
/// every request must still see exactly its own target and fields, whether
/// they repeat, change value, change name or move, through the views on
/// the received bytes and through the owned `Uri` and `HeaderMap`.
#[test]
fn each_request_on_a_connection_sees_its_own_head() {
    let server = start(|req: Request| {
        // The views on the received bytes first (nothing built yet), then the owned types.
        let views =
            format!("{} {:?} {:?} {:?}", req.target(), req.query_string(), req.header("x-a"), req.header("X-B"));
        let owned = format!(
            "{} {:?} {:?} {:?}",
            req.uri(),
            req.uri().query(),
            req.headers().get("x-a").map(|v| v.as_bytes()),
            req.headers().get("x-b").map(|v| v.as_bytes())
        );
        assert_eq!(views, owned, "the views and the owned types differ");
        let mut out = format!("{}\n", req.uri());
        for (name, value) in req.headers() {
            out.push_str(&format!("{}={}\n", name, value.to_str().unwrap_or("?")));
        }
        out.into_response()
    });
    let mut c = RawClient::connect(addr(&server));
    let heads: [(&str, &[(&str, &str)]); 6] = [
        ("/a?x=1", &[("Host", "h"), ("X-A", "1")]),
        ("/a?x=1", &[("Host", "h"), ("X-A", "1")]),
        ("/a?x=1", &[("Host", "h"), ("X-A", "1")]),
        ("/a?x=2", &[("Host", "h"), ("X-A", "2")]),
        ("/a?x=2", &[("Host", "h"), ("X-B", "2")]),
        ("/b", &[("X-B", "2"), ("Host", "h"), ("X-A", "1")]),
    ];
    for (target, fields) in heads {
        let mut req = format!("GET {target} HTTP/1.1\r\n");
        for (n, v) in fields {
            req.push_str(&format!("{n}: {v}\r\n"));
        }
        req.push_str("\r\n");
        c.send(req);
        let res = c.response();
        assert_eq!(res.status, 200);
        let mut want = format!("{target}\n");
        for (n, v) in fields {
            want.push_str(&format!("{}={v}\n", n.to_ascii_lowercase()));
        }
        assert_eq!(res.text(), want, "request for {target} with {fields:?}");
    }
}

/// What a handler reads of unusual targets and fields, over a real socket:
/// a fragment (cut, as `Uri` cuts it), percent-escapes and UTF-8 kept as
/// received, an absolute URI (sent to proxies), `OPTIONS *`, repeated
/// fields in order, and any case of a name.
#[test]
fn a_handler_reads_targets_and_fields_as_received() {
    let server = start(|req: Request| {
        let values: Vec<String> = req.header_all("x-many").map(|v| String::from_utf8_lossy(v).into_owned()).collect();
        format!(
            "{} {} path={} query={:?} target={} x-many={:?} uri={} fields={}\n",
            req.method(),
            req.version() == http::Version::HTTP_10,
            req.path(),
            req.query_string(),
            req.target(),
            values,
            req.uri(),
            req.headers().len()
        )
        .into_response()
    });
    let mut c = RawClient::connect(addr(&server));
    let cases = [
        (
            "GET /a/b?x=1#frag HTTP/1.1\r\nHost: h\r\n\r\n",
            "GET false path=/a/b query=Some(\"x=1\") target=/a/b?x=1 x-many=[] uri=/a/b?x=1 fields=1",
        ),
        (
            "GET /caf%C3%A9/\u{e9}t\u{e9}?q=%20+\u{e9} HTTP/1.1\r\nhost: h\r\nX-Many: 1\r\nx-many: 2\r\nX-MANY: 3\r\n\r\n",
            "GET false path=/caf%C3%A9/\u{e9}t\u{e9} query=Some(\"q=%20+\u{e9}\") target=/caf%C3%A9/\u{e9}t\u{e9}?q=%20+\u{e9} x-many=[\"1\", \"2\", \"3\"] uri=/caf%C3%A9/\u{e9}t\u{e9}?q=%20+\u{e9} fields=4",
        ),
        (
            "GET http://example.com:8080/p?q=1 HTTP/1.1\r\nHost: example.com:8080\r\n\r\n",
            "GET false path=/p query=Some(\"q=1\") target=/p?q=1 x-many=[] uri=http://example.com:8080/p?q=1 fields=1",
        ),
        ("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n", "OPTIONS false path=* query=None target=* x-many=[] uri=* fields=1"),
        (
            "GET /?empty= HTTP/1.0\r\n\r\n",
            "GET true path=/ query=Some(\"empty=\") target=/?empty= x-many=[] uri=/?empty= fields=0",
        ),
    ];
    for (head, want) in cases {
        c.send(head);
        let res = c.response();
        assert_eq!((res.status, res.text().trim_end()), (200, want), "for {head:?}");
        if head.contains("HTTP/1.0") {
            c = RawClient::connect(addr(&server));
        }
    }
    // Targets `Uri` would refuse are refused before any handler runs.
    for bad in ["/a b", "/a<b", "/a\u{7f}", "/q?a\"b"] {
        let mut c = RawClient::connect(addr(&server));
        c.send(format!("GET {bad} HTTP/1.1\r\nHost: h\r\n\r\n"));
        assert_eq!(c.response().status, 400, "{bad:?}");
    }
}
