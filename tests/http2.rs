//! HTTP/2 served to real clients: curl over TLS (ALPN `h2`) and in
//! cleartext by prior knowledge (h2c), h2load, and Python's `h2` package
//! for the attacks a hostile peer can make at the protocol level (rapid
//! reset, CONTINUATION flood, ping and SETTINGS floods, oversized headers,
//! too many streams), plus idle and preface timeouts and a graceful
//! shutdown with streams in flight.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream as StdTcp;
use std::process::{Command, Output};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use greenloop::http::tls::ServerTls;
use greenloop::http::{
    Limits, Request, RequestExt, ResponseBody, Router, RunningServer, Server, StatusCode, get, post,
};
use support::certs::TestCerts;

/// Handlers started and handlers that ran to their end, for the tests that
/// count the work a peer made the server do.
#[derive(Default)]
struct Counts {
    started: AtomicUsize,
    /// Ran to their end (slept in full).
    finished: AtomicUsize,
    /// Left, by returning or by being cancelled.
    ended: AtomicUsize,
}

/// Counts a handler's end however it ends (a cancelled wait unwinds).
struct Ends(Arc<Counts>);

impl Drop for Ends {
    fn drop(&mut self) {
        self.0.ended.fetch_add(1, Ordering::SeqCst);
    }
}

fn router(counts: Arc<Counts>) -> Router {
    let sleepy = counts.clone();
    Router::new()
        .route("/hello", get(|req: Request| format!("hello over {:?} to {}\n", req.version(), req.uri())))
        .route("/plaintext", get(|_req: Request| "Hello, World!"))
        .route(
            "/host",
            get(|req: Request| {
                let host = req.headers().get("host").map_or("-", |v| v.to_str().unwrap_or("?")).to_owned();
                format!("{host} {}\n", req.request_id().unwrap_or(0))
            }),
        )
        .route(
            "/sleep",
            get(move |req: Request| {
                let ms: u64 = req.query("ms").and_then(|v| v.parse().ok()).unwrap_or(1000);
                sleepy.started.fetch_add(1, Ordering::SeqCst);
                let _ends = Ends(sleepy.clone());
                greenloop::sleep(Duration::from_millis(ms));
                sleepy.finished.fetch_add(1, Ordering::SeqCst);
                format!("slept {ms} ms\n")
            }),
        )
        .route(
            "/echo",
            post(|mut req: Request| {
                let mut body = Vec::new();
                match req.body_mut().read_to_end(&mut body) {
                    Ok(_) => (StatusCode::OK, body),
                    Err(e) => (StatusCode::PAYLOAD_TOO_LARGE, format!("{e}\n").into_bytes()),
                }
            }),
        )
        .route("/metrics", get(greenloop::http::metrics::handler))
        .route("/panic", get(|_req: Request| -> &'static str { panic!("this handler panics") }))
        .route(
            "/stream",
            get(|req: Request| {
                let kib: usize = req.query("kib").and_then(|v| v.parse().ok()).unwrap_or(1024);
                http::Response::new(ResponseBody::stream(move |w| {
                    let chunk = vec![b'x'; 1024];
                    for _ in 0..kib {
                        w.write_all(&chunk)?;
                    }
                    Ok(())
                }))
            }),
        )
}

fn start(limits: Limits, tls: Option<&TestCerts>) -> (RunningServer, Arc<Counts>) {
    let counts = Arc::new(Counts::default());
    let mut server =
        Server::bind("127.0.0.1:0").limits(limits).handle_signals(false).grace_period(Duration::from_secs(10));
    if let Some(certs) = tls {
        server = server.tls(ServerTls::from_pem_files(&certs.cert_path, &certs.key_path).unwrap());
    }
    (server.start(router(counts.clone())).unwrap(), counts)
}

fn curl(args: &[&str]) -> Output {
    Command::new("curl").args(["-sS", "--max-time", "20"]).args(args).output().expect("curl runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn curl_h2c_by_prior_knowledge_gets_answers_on_one_connection() {
    let (server, _) = start(Limits::default(), None);
    let port = server.local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}/hello");
    // One URL per curl: curl 7.88 fails a second prior-knowledge request on
    // a reused connection with any server (nginx too); nghttp shows reuse below.
    let out = curl(&["-v", "--http2-prior-knowledge", &url]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "curl failed: {stderr}");
    assert_eq!(stdout, "hello over HTTP/2.0 to /hello\n");
    assert!(stderr.contains("< HTTP/2 200"), "{stderr}");
    assert!(stderr.contains("< date: "), "{stderr}");
    assert!(stderr.contains("< server: greenloop"), "{stderr}");
    // The authority became the Host header, as an HTTP/1.1 client would send it.
    let out = curl(&["--http2-prior-knowledge", &format!("http://127.0.0.1:{port}/host")]);
    assert!(text(&out.stdout).starts_with(&format!("127.0.0.1:{port} ")), "{}", text(&out.stdout));
    // The metrics count HTTP/2 answers as they count HTTP/1.1 ones: the two above, the 404 here.
    let _ = curl(&["--http2-prior-knowledge", &format!("http://127.0.0.1:{port}/missing")]);
    let out = curl(&["--http2-prior-knowledge", &format!("http://127.0.0.1:{port}/metrics")]);
    let metrics = text(&out.stdout);
    assert!(metrics.contains("greenloop_http_requests_total{class=\"2xx\"} 2\n"), "{metrics}");
    assert!(metrics.contains("greenloop_http_requests_total{class=\"4xx\"} 1\n"), "{metrics}");
    assert!(metrics.contains("greenloop_http_requests_in_flight 1\n"), "{metrics}");
    // HTTP/1.1 on the same port is unchanged.
    let out = curl(&["--http1.1", &url]);
    assert_eq!(text(&out.stdout), "hello over HTTP/1.1 to /hello\n");
    server.stop().unwrap();
}

/// Runs `tests/http2_peer.py MODE PORT ARG` (Python's `h2` package,
/// pip-installed when missing) and parses the JSON line it prints last.
fn peer(mode: &str, port: u16, arg: usize) -> serde_json::Value {
    support::python::python_has_h2();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/http2_peer.py");
    let out = Command::new("python3").args([script, mode, &port.to_string(), &arg.to_string()]).output().unwrap();
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{mode}: {stdout}{}", text(&out.stderr));
    let last = stdout.lines().last().unwrap_or_default();
    eprintln!("{mode}: {last}");
    serde_json::from_str(last).unwrap_or_else(|e| panic!("{mode}: {e}: {stdout}"))
}

/// Waits (at most `within`) until `cond` holds.
fn eventually(within: Duration, cond: impl Fn() -> bool) -> bool {
    let until = Instant::now() + within;
    while Instant::now() < until {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    cond()
}

/// A fresh HTTP/1.1 request answers quickly: the worker is not held.
fn still_serves(port: u16) {
    let start = Instant::now();
    let out = curl(&["--http1.1", &format!("http://127.0.0.1:{port}/hello")]);
    assert_eq!(text(&out.stdout), "hello over HTTP/1.1 to /hello\n");
    assert!(start.elapsed() < Duration::from_secs(2), "took {:?}", start.elapsed());
}

#[test]
fn curl_over_tls_negotiates_h2_through_alpn_and_http11_still_works() {
    let certs = TestCerts::new();
    let (server, _) = start(Limits::default(), Some(&certs));
    let port = server.local_addr().unwrap().port();
    let resolve = format!("localhost:{port}:127.0.0.1");
    let url = format!("https://localhost:{port}/hello");
    let ca = certs.ca_path.to_str().unwrap();
    let out = curl(&["-v", "--http2", "--cacert", ca, "--resolve", &resolve, &url]);
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("ALPN: server accepted h2"), "{stderr}");
    assert_eq!(text(&out.stdout), "hello over HTTP/2.0 to /hello\n");
    let out = curl(&["-v", "--http1.1", "--cacert", ca, "--resolve", &resolve, &url]);
    assert!(text(&out.stderr).contains("ALPN: server accepted http/1.1"), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "hello over HTTP/1.1 to /hello\n");
    // A request body and a streamed 4 MiB answer through the flow control, over TLS.
    let body: Vec<u8> = (0..1_000_000u32).map(|i| (i % 251) as u8).collect();
    let file = certs.dir.join("body.bin");
    std::fs::write(&file, &body).unwrap();
    let echo = format!("https://localhost:{port}/echo");
    let data = format!("@{}", file.display());
    let out = curl(&["--http2", "--cacert", ca, "--resolve", &resolve, "--data-binary", &data, &echo]);
    assert!(out.stdout == body, "echoed {} bytes, not the 1 MB sent: {}", out.stdout.len(), text(&out.stderr));
    let out =
        curl(&["--http2", "--cacert", ca, "--resolve", &resolve, &format!("https://localhost:{port}/stream?kib=4096")]);
    assert_eq!(out.stdout.len(), 4096 * 1024, "{}", text(&out.stderr));
    server.stop().unwrap();
}

#[test]
fn a_request_body_past_the_limit_is_refused_and_the_connection_goes_on() {
    let limits = Limits { max_body_bytes: 1000, ..Default::default() };
    let (server, _) = start(limits, None);
    let port = server.local_addr().unwrap().port();
    let big = "x".repeat(5000);
    let out = curl(&["--http2-prior-knowledge", "--data-binary", &big, &format!("http://127.0.0.1:{port}/echo")]);
    assert!(text(&out.stdout).contains("larger than the 1000-byte limit"), "{}", text(&out.stdout));
    let out = curl(&["--http2-prior-knowledge", "--data-binary", "small", &format!("http://127.0.0.1:{port}/echo")]);
    assert_eq!(text(&out.stdout), "small");
    server.stop().unwrap();
}

#[test]
fn streams_share_a_connection_and_a_panic_fails_only_its_own() {
    let (server, _) = start(Limits::default(), None);
    let port = server.local_addr().unwrap().port();
    let r = peer("reuse", port, 3);
    assert_eq!(r["statuses"], serde_json::json!([200, 200, 200, 500, 200]), "{r}");
    assert_eq!(r["closed"], false, "{r}");
    server.stop().unwrap();
}

#[test]
fn a_hundred_sleeping_streams_on_one_connection_run_at_once() {
    let (server, counts) = start(Limits::default(), None);
    let port = server.local_addr().unwrap().port();
    let r = peer("concurrency", port, 100);
    assert_eq!(r["ok"], 100, "{r}");
    let elapsed = r["elapsed"].as_f64().unwrap();
    assert!(elapsed <= 1.5, "100 one-second streams took {elapsed:.2} s");
    assert_eq!(counts.finished.load(Ordering::SeqCst), 100);
    server.stop().unwrap();
}

#[test]
fn a_shut_window_parks_only_its_stream_until_the_peer_opens_it() {
    let (server, _) = start(Limits::default(), None);
    let port = server.local_addr().unwrap().port();
    let r = peer("window", port, 256);
    // Only the window's worth arrived while it was shut...
    assert_eq!(r["stalled"], 1024, "{r}");
    // ...another stream was answered meanwhile, and the rest came once it opened.
    assert_eq!(r["hello"], 200, "{r}");
    assert_eq!(r["total"], 256 * 1024, "{r}");
    assert_eq!(r["all_x"], true, "{r}");
    server.stop().unwrap();
}

#[test]
fn streams_past_the_concurrency_limit_are_refused() {
    let (server, counts) = start(Limits { max_concurrent_streams: 10, ..Default::default() }, None);
    let port = server.local_addr().unwrap().port();
    let r = peer("too_many_streams", port, 30);
    assert_eq!(r["ok"], 10, "{r}");
    assert_eq!(r["refused"], 20, "{r}");
    assert_eq!(counts.started.load(Ordering::SeqCst), 10);
    server.stop().unwrap();
}

#[test]
fn rapid_reset_ends_the_connection_and_cancels_the_handlers_it_started() {
    let (server, counts) = start(Limits::default(), None);
    let port = server.local_addr().unwrap().port();
    let r = peer("rapid_reset", port, 20_000);
    // h2 counts streams reset before they were accepted: past 20, GOAWAY ENHANCE_YOUR_CALM.
    assert_eq!(r["goaway"], 11, "{r}");
    assert_eq!(r["closed"], true, "{r}");
    let started = counts.started.load(Ordering::SeqCst);
    assert!(started < 2_000, "{started} handlers started for 20000 reset streams");
    // Every handler that did start (each sleeps 10 s) was cancelled, none ran to its end.
    assert!(
        eventually(Duration::from_secs(3), || {
            counts.ended.load(Ordering::SeqCst) == counts.started.load(Ordering::SeqCst)
        }),
        "handlers still running"
    );
    assert_eq!(counts.finished.load(Ordering::SeqCst), 0);
    still_serves(port);
    server.stop().unwrap();
}

#[test]
fn a_continuation_flood_is_cut_off() {
    let (server, _) = start(Limits::default(), None);
    let port = server.local_addr().unwrap().port();
    // Header fields without end: past the 16 KiB header list limit the stream goes.
    let r = peer("continuation_flood", port, 100_000);
    assert_eq!(r["closed"], true, "{r}");
    assert!(r["sent"].as_u64().unwrap() < 100_000, "the server read the whole flood: {r}");
    // Empty CONTINUATION frames add nothing to the list: h2 counts the frames (CVE-2024-27316).
    let r = peer("empty_continuations", port, 1_000_000);
    assert_eq!(r["closed"], true, "{r}");
    assert!(r["sent"].as_u64().unwrap() < 1_000_000, "the server read the whole flood: {r}");
    still_serves(port);
    server.stop().unwrap();
}

#[test]
fn ping_and_settings_floods_are_answered_without_holding_the_worker() {
    let (server, _) = start(Limits::default(), None);
    let port = server.local_addr().unwrap().port();
    for mode in ["ping_flood", "settings_flood"] {
        let flood = std::thread::spawn(move || peer(mode, port, 50_000));
        // Other connections are served while the flood goes on.
        still_serves(port);
        let r = flood.join().unwrap();
        // Either the flood was answered and the connection still serves, or h2 ended it.
        let served = r["status"] == 200;
        assert!(served || r["status"].is_null(), "{mode}: {r}");
        assert!(r["answers"].as_u64().unwrap() > 0, "{mode}: {r}");
    }
    still_serves(port);
    server.stop().unwrap();
}

#[test]
fn an_oversized_header_list_is_refused_and_the_connection_goes_on() {
    let (server, counts) = start(Limits::default(), None);
    let port = server.local_addr().unwrap().port();
    let r = peer("big_headers", port, 20_000);
    assert_ne!(r["big_status"], 200, "{r}");
    assert!(r["big_status"] == 431 || !r["big_reset"].is_null() || !r["goaway"].is_null(), "{r}");
    assert_eq!(counts.started.load(Ordering::SeqCst), 0);
    server.stop().unwrap();
}

#[test]
fn an_idle_connection_gets_goaway_and_a_silent_one_is_closed() {
    let limits = Limits {
        idle_timeout: Duration::from_millis(300),
        header_timeout: Duration::from_millis(300),
        ..Default::default()
    };
    let (server, _) = start(limits, None);
    let port = server.local_addr().unwrap().port();
    // A preface and SETTINGS, then nothing: GOAWAY and close after the idle timeout.
    let start = Instant::now();
    let mut s = StdTcp::connect(("127.0.0.1", port)).unwrap();
    s.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got);
    assert!(start.elapsed() < Duration::from_secs(4), "open for {:?}", start.elapsed());
    // The server's SETTINGS, its ack of ours, then GOAWAY (type 7) with NO_ERROR.
    assert!(frame_types(&got).contains(&7), "{got:?}");
    // A preface that never ends: closed after the header timeout.
    let start = Instant::now();
    let mut s = StdTcp::connect(("127.0.0.1", port)).unwrap();
    s.write_all(b"PRI * HTTP/2.0\r\n\r\n").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got);
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(250) && took < Duration::from_secs(3), "closed after {took:?}");
    server.stop().unwrap();
}

/// The frame types in a run of HTTP/2 frames.
fn frame_types(mut b: &[u8]) -> Vec<u8> {
    let mut types = Vec::new();
    while b.len() >= 9 {
        let len = u32::from_be_bytes([0, b[0], b[1], b[2]]) as usize;
        types.push(b[3]);
        b = &b[(9 + len).min(b.len())..];
    }
    types
}

#[test]
fn a_graceful_shutdown_sends_goaway_and_finishes_the_streams_in_flight() {
    let (server, counts) = start(Limits::default(), None);
    let port = server.local_addr().unwrap().port();
    let handle = server.shutdown_handle();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/http2_peer.py");
    support::python::python_has_h2();
    let child = Command::new("python3")
        .args([script, "shutdown", &port.to_string(), "20"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    assert!(eventually(Duration::from_secs(10), || counts.started.load(Ordering::SeqCst) == 20));
    handle.shutdown();
    let out = child.wait_with_output().unwrap();
    let stdout = text(&out.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    let r: serde_json::Value =
        serde_json::from_str(last).unwrap_or_else(|e| panic!("{e}: {stdout}{}", text(&out.stderr)));
    assert_eq!(r["ok"], 20, "{r}");
    assert_eq!(r["goaway"], 0, "{r}");
    assert_eq!(r["closed"], true, "{r}");
    assert_eq!(counts.finished.load(Ordering::SeqCst), 20);
    server.join().unwrap();
}

/// h2load (Debian's nghttp2-client): installed under CI, else the test is skipped.
fn h2load() -> bool {
    let have = || Command::new("h2load").arg("--version").output().is_ok_and(|o| o.status.success());
    if !have() && std::env::var_os("CI").is_some() {
        let install =
            "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nghttp2-client >/dev/null";
        let s = Command::new("sh").args(["-c", install]).status().unwrap();
        assert!(s.success(), "apt-get install nghttp2-client failed");
    }
    if !have() {
        eprintln!("skipped: h2load not installed (apt-get install nghttp2-client)");
        return false;
    }
    true
}

#[test]
fn h2load_gets_every_answer_over_many_multiplexed_streams() {
    if !h2load() {
        return;
    }
    let (server, _) = start(Limits::default(), None);
    let port = server.local_addr().unwrap().port();
    let out = Command::new("h2load")
        .args(["-n", "20000", "-c", "10", "-m", "10", &format!("http://127.0.0.1:{port}/plaintext")])
        .output()
        .unwrap();
    let stdout = text(&out.stdout);
    assert!(stdout.contains("20000 succeeded, 0 failed, 0 errored"), "{stdout}");
    assert!(stdout.contains("status codes: 20000 2xx"), "{stdout}");
    server.stop().unwrap();
}

#[test]
fn a_shutdown_ends_a_tls_handshake_left_half_done() {
    let certs = TestCerts::new();
    let (server, _) = start(Limits::default(), Some(&certs));
    let port = server.local_addr().unwrap().port();
    // A connection that never sends its ClientHello (the header timeout is 10 s, the grace period 10 s).
    let _silent = StdTcp::connect(("127.0.0.1", port)).unwrap();
    let out = curl(&["--http1.1", "-k", &format!("https://127.0.0.1:{port}/hello")]);
    assert_eq!(text(&out.stdout), "hello over HTTP/1.1 to /hello\n");
    let start = Instant::now();
    server.stop().unwrap();
    assert!(start.elapsed() < Duration::from_secs(3), "the shutdown waited {:?}", start.elapsed());
}

#[test]
fn an_hpack_table_past_the_announced_size_ends_the_connection() {
    let (server, _) = start(Limits::default(), None);
    let port = server.local_addr().unwrap().port();
    let r = peer("hpack_table", port, 1 << 20);
    // The decoder's table stays at the 4096 bytes announced: GOAWAY (h2 says
    // PROTOCOL_ERROR, 1; RFC 7541 names COMPRESSION_ERROR, 9).
    assert!(r["goaway"] == 1 || r["goaway"] == 9, "{r}");
    assert_eq!(r["answered"], false, "{r}");
    still_serves(port);
    server.stop().unwrap();
}

#[test]
fn data_past_a_stream_receive_window_is_refused() {
    let (server, counts) = start(Limits::default(), None);
    let port = server.local_addr().unwrap().port();
    // The stream window is 256 KiB: 1 MiB at once overruns it (FLOW_CONTROL_ERROR, 3).
    let r = peer("overrun_window", port, 1 << 20);
    assert!(r["reset"] == 3 || r["goaway"] == 3, "{r}");
    // The handler the stream started was cancelled with it.
    assert!(eventually(Duration::from_secs(3), || {
        counts.ended.load(Ordering::SeqCst) == counts.started.load(Ordering::SeqCst)
    }));
    assert_eq!(counts.finished.load(Ordering::SeqCst), 0);
    still_serves(port);
    server.stop().unwrap();
}

#[test]
fn an_idle_http2_connection_makes_room_at_the_connection_cap() {
    let (server, _) = start(Limits { max_connections: 1, ..Default::default() }, None);
    let port = server.local_addr().unwrap().port();
    support::python::python_has_h2();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/http2_peer.py");
    let mut child = Command::new("python3")
        .args([script, "idle_until_goaway", &port.to_string(), "0"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
    assert_eq!(line, "answered\n");
    // The only slot is held by an idle HTTP/2 connection: it goes, the newcomer is served.
    still_serves(port);
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    assert!(child.wait().unwrap().success());
    let r: serde_json::Value = serde_json::from_str(rest.lines().last().unwrap_or_default()).unwrap();
    assert_eq!(r["status"], 200, "{r}");
    assert_eq!(r["goaway"], 0, "{r}");
    assert_eq!(r["closed"], true, "{r}");
    server.stop().unwrap();
}

/// A browser gets HTTP/2 from the demo's TLS port: headless Chromium loads
/// the live status page, which says which protocol it came over and polls
/// `/status.json` on the same connection.
#[test]
fn chromium_loads_the_status_page_over_h2() {
    let Some(browser) = support::chromium::browser() else { return };
    let certs = TestCerts::new();
    let (cert, key) = (certs.cert_path.to_str().unwrap(), certs.key_path.to_str().unwrap());
    let demo = support::demo::Demo::start(&["--tls-cert", cert, "--tls-key", key, "--quiet"]);
    let url = format!("https://127.0.0.1:{}/status", demo.addr().port());
    // The test's own CA is not the browser's: the certificate is not what is tested here.
    let dom =
        support::chromium::dump_dom_with(&browser, &url, Some(3000), "h2-status", &["--ignore-certificate-errors"]);
    assert!(dom.contains("data-protocol=\"h2\""), "the page came over HTTP/2: {dom}");
    assert!(dom.contains("data-polls=\"") && dom.contains(", over h2)"), "it polled over HTTP/2: {dom}");
}
