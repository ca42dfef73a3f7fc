//! WebSockets on the demo, against an independent peer (Python's
//! `websockets` package, installed with pip when missing, and raw sockets
//! for frames no well-behaved client sends): echo of text, binary and
//! fragmented messages, the frame limit (1009), bad masking and opcodes
//! (1002), a chat member that vanishes, and the same over TLS.

mod support;

use std::process::Command;

use support::certs::TestCerts;
use support::demo::Demo;
use support::python::python_has_websockets;

fn peer(check: &str, base: &str, ca: Option<&str>) {
    python_has_websockets();
    let peer = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/ws_peer.py");
    let mut cmd = Command::new("python3");
    cmd.args([peer, check, base]);
    if let Some(ca) = ca {
        cmd.arg(ca);
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && stdout.trim() == "ok", "{check}: {stdout}{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn echo_text_binary_fragmented_and_large() {
    let demo = Demo::start(&["--quiet"]);
    peer("echo", &format!("ws://{}", demo.addr()), None);
}

#[test]
fn oversize_frames_close_with_1009() {
    let demo = Demo::start(&["--quiet"]);
    peer("oversize", &format!("ws://{}", demo.addr()), None);
}

#[test]
fn bad_masking_and_opcodes_close_with_1002() {
    let demo = Demo::start(&["--quiet"]);
    peer("bad_masking", &format!("ws://{}", demo.addr()), None);
    peer("bad_opcode", &format!("ws://{}", demo.addr()), None);
}

#[test]
fn the_chat_room_forgets_a_member_that_vanishes() {
    let demo = Demo::start(&["--quiet"]);
    peer("chat_forgets", &format!("ws://{}", demo.addr()), None);
}

#[test]
fn websockets_over_tls() {
    let certs = TestCerts::new();
    let (cert, key, ca) =
        (certs.cert_path.to_str().unwrap(), certs.key_path.to_str().unwrap(), certs.ca_path.to_str().unwrap());
    let demo = Demo::start(&["--tls-cert", cert, "--tls-key", key, "--quiet"]);
    let base = format!("wss://localhost:{}", demo.addr().port());
    peer("echo", &base, Some(ca));
    peer("chat_forgets", &base, Some(ca));
}

#[test]
fn a_plain_get_to_a_websocket_route_is_a_400() {
    let demo = Demo::start(&["--quiet"]);
    let (status, body) = demo.get("/ws/echo");
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("WebSocket handshake"), "{body}");
}

#[test]
fn the_demo_streams_metrics_as_server_sent_events() {
    use std::io::{BufRead, BufReader, Write};
    let demo = Demo::start(&["--quiet"]);
    let mut s = std::net::TcpStream::connect(demo.addr()).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
    s.write_all(b"GET /events HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut r = BufReader::new(s);
    let mut text = String::new();
    while text.matches("event: metrics").count() < 2 {
        let mut line = String::new();
        assert!(r.read_line(&mut line).unwrap() > 0, "{text}");
        text.push_str(&line);
    }
    assert!(text.contains("text/event-stream") && text.contains("\"requests_total\""), "{text}");
}

/// Two headless Chromium sessions open `/chat` and each says something
/// over and over; each page must show what the other said. The pages hold
/// their load event with `?hold=MS` so that the dump comes after the talk.
#[test]
fn two_browsers_chat_through_the_chat_page() {
    let Some(browser) = support::chromium::browser() else { return };
    let demo = Demo::start(&["--quiet"]);
    let session = |who: &'static str, hold: u32| {
        let (browser, url) = (browser.clone(), demo.url(&format!("/chat?say=from-{who}&hold={hold}")));
        std::thread::spawn(move || support::chromium::dump_dom(&browser, &url, None, &format!("chat-{who}")))
    };
    let a = session("a", 7000);
    std::thread::sleep(std::time::Duration::from_millis(1000));
    let b = session("b", 4000);
    let (a, b) = (a.join().unwrap(), b.join().unwrap());
    assert!(a.contains(": from-b</div>"), "a never saw b: {a}");
    assert!(b.contains(": from-a</div>"), "b never saw a: {b}");
}

/// SIGTERM: open WebSockets are closed with 1001 (going away) at once, and
/// the server exits without waiting out its 30 s grace period for them.
#[test]
fn shutdown_closes_websockets_with_1001() {
    use std::io::BufRead;
    python_has_websockets();
    let mut demo = Demo::start(&["--quiet"]);
    let peer = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/ws_peer.py");
    let mut child = Command::new("python3")
        .args([peer, "shutdown", &format!("ws://{}", demo.addr())])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "connected");
    let t = std::time::Instant::now();
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(demo.child.id() as libc::pid_t, libc::SIGTERM) }, 0);
    let status = demo.child.wait().unwrap();
    assert!(t.elapsed() < std::time::Duration::from_secs(10), "exit took {:?}", t.elapsed());
    assert!(status.success(), "{status:?}");
    line.clear();
    out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "ok");
    assert!(child.wait().unwrap().success());
}
