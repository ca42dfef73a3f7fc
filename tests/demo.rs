//! The demo binary, run as a user runs it: real process, real sockets.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

mod support;
use support::demo::Demo;
use support::raw::{RawClient, request};

#[test]
fn the_fixed_routes_answer() {
    let demo = Demo::start(&["--quiet"]);
    let (status, page) = demo.get("/");
    assert_eq!(status, 200);
    for route in ["/plaintext", "/json", "/echo", "/sleep", "/offload", "/block", "/metrics"] {
        assert!(page.contains(route), "the index page must list {route}");
    }
    assert_eq!(demo.get("/plaintext"), (200, "Hello, World!".into()));
    assert_eq!(demo.get("/json"), (200, r#"{"message":"Hello, World!"}"#.into()));
    assert_eq!(demo.get("/sleep?ms=10"), (200, "slept".into()));
    assert_eq!(demo.get("/sleep?ms=ten").0, 400);
    let (status, body) = request(
        demo.addr(),
        "POST /echo HTTP/1.1\r\nHost: d\r\nConnection: close\r\nContent-Length: 11\r\n\r\nhello there",
    );
    assert_eq!((status, body.as_str()), (200, "hello there"));
}

#[test]
fn echo_is_framed_right_with_and_without_the_access_log() {
    // The access log is on by default; with --log-bodies it reads the start
    // of the body and puts it back in front.
    for args in [&["--quiet"][..], &[], &["--log-bodies"]] {
        let demo = Demo::start(args);
        for body in ["hello there".to_owned(), "x".repeat(5000)] {
            let raw = format!(
                "POST /echo HTTP/1.1\r\nHost: d\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            let mut c = RawClient::connect(demo.addr());
            c.send(raw);
            let r = c.response();
            assert_eq!(r.status, 200, "{args:?}");
            assert_eq!(r.header("content-length"), Some(body.len().to_string().as_str()), "{args:?}");
            assert!(r.text() == body, "{args:?}: the echo differs");
            c.expect_closed();
        }
    }
}

#[test]
fn ten_green_sleeps_take_one_second_not_ten() {
    let demo = Demo::start(&["--quiet"]);
    let start = Instant::now();
    let handles = demo.spawn_gets(10, "/sleep?ms=1000");
    for h in handles {
        assert_eq!(h.join().unwrap().0, 200);
    }
    let took = start.elapsed();
    assert!(took < Duration::from_millis(2500), "10 concurrent 1 s sleeps took {took:?}");
}

#[test]
fn the_watchdog_names_a_blocking_handler_promptly() {
    let demo = Demo::start(&[]);
    let sent = Instant::now();
    let (status, body) = demo.get("/block?ms=100");
    assert_eq!(status, 200);
    assert!(body.contains("on purpose"), "{body}");
    let (seen, line) =
        demo.wait_for_line("has held the loop", Duration::from_secs(5)).expect("a watchdog warning on stderr");
    assert!(line.contains("GET /block?ms=100"), "the report must name the request: {line}");
    assert!(line.contains("greenloop::offload"), "the report must point at offload: {line}");
    let after = seen - sent;
    // Threshold 20 ms; the report must come within 50 ms of it.
    assert!(after < Duration::from_millis(70), "reported {after:?} after the request was sent");
    let (_, closing) = demo.wait_for_line("released the loop", Duration::from_secs(5)).expect("a closing report");
    assert!(closing.contains("GET /block?ms=100"), "{closing}");
}

/// The request id in a watchdog report: `... (request N)' ...`.
fn reported_request_id(line: &str) -> u64 {
    let at = line.find("(request ").unwrap_or_else(|| panic!("no request id in: {line}")) + "(request ".len();
    let digits: String = line[at..].chars().take_while(char::is_ascii_digit).collect();
    digits.parse().unwrap_or_else(|_| panic!("no request id in: {line}"))
}

#[test]
fn each_blocking_request_on_a_connection_is_reported_with_its_own_id_and_target() {
    let demo = Demo::start(&[]);
    // Three requests, one after the other on one keep-alive connection: the
    // second repeats the first's target (only the id changes), the third
    // has another target.
    let mut conn = BufReader::new(TcpStream::connect(demo.addr()).unwrap());
    for target in ["/block?ms=60", "/block?ms=60", "/block?ms=61"] {
        write!(conn.get_mut(), "GET {target} HTTP/1.1\r\nHost: demo\r\n\r\n").unwrap();
        let mut length = None;
        let mut line = String::new();
        while conn.read_line(&mut line).unwrap() > 2 {
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = Some(v.trim().parse::<usize>().unwrap());
            }
            line.clear();
        }
        let mut body = vec![0; length.expect("a Content-Length")];
        conn.read_exact(&mut body).unwrap();
    }
    let mut reports = Vec::new();
    for _ in 0..3 {
        let (_, line) =
            demo.wait_for_line("has held the loop", Duration::from_secs(5)).expect("one report per blocking request");
        reports.push(line);
    }
    let first = reported_request_id(&reports[0]);
    for (i, (line, target)) in reports.iter().zip(["/block?ms=60", "/block?ms=60", "/block?ms=61"]).enumerate() {
        assert!(line.contains(&format!("'GET {target} (request ")), "report {i} must name {target}: {line}");
        assert_eq!(reported_request_id(line), first + i as u64, "report {i}: {line}");
    }
}

#[test]
fn offload_keeps_the_loop_responsive() {
    let demo = Demo::start(&["--quiet"]);
    let start = Instant::now();
    let handles = demo.spawn_gets(20, "/offload?ms=200");
    // While twenty 200 ms blocking sleeps run on the offload pool, plaintext answers at once.
    std::thread::sleep(Duration::from_millis(50));
    for _ in 0..5 {
        let t = Instant::now();
        assert_eq!(demo.get("/plaintext").0, 200);
        assert!(t.elapsed() < Duration::from_millis(150), "/plaintext took {:?} during offloads", t.elapsed());
    }
    for h in handles {
        assert_eq!(h.join().unwrap().0, 200);
    }
    let took = start.elapsed();
    assert!(took < Duration::from_millis(2000), "20 offloaded 200 ms sleeps took {took:?} (serial would be 4 s)");
}

/// Parses Prometheus text: every sample line is `name{labels} value`.
fn samples(text: &str) -> Vec<(String, f64)> {
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (name, value) = l.rsplit_once(' ').unwrap_or_else(|| panic!("malformed sample line: {l:?}"));
            let valid_name = name.split('{').next().unwrap().chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            assert!(valid_name, "bad metric name in {l:?}");
            (name.to_owned(), value.parse::<f64>().unwrap_or_else(|_| panic!("bad value in {l:?}")))
        })
        .collect()
}

fn sample(all: &[(String, f64)], name: &str) -> f64 {
    all.iter().find(|(n, _)| n == name).map(|(_, v)| *v).unwrap_or_else(|| panic!("no {name}"))
}

#[test]
fn metrics_parse_and_move() {
    let demo = Demo::start(&["--quiet"]);
    let (status, before) = demo.get("/metrics");
    assert_eq!(status, 200);
    let before = samples(&before);
    for _ in 0..7 {
        demo.get("/plaintext");
    }
    demo.get("/nope");
    let after = samples(&demo.get("/metrics").1);
    let ok = r#"greenloop_http_requests_total{class="2xx"}"#;
    let missing = r#"greenloop_http_requests_total{class="4xx"}"#;
    assert!(sample(&after, ok) >= sample(&before, ok) + 7.0);
    assert_eq!(sample(&after, missing), sample(&before, missing) + 1.0);
    let count = "greenloop_http_request_duration_seconds_count";
    assert!(sample(&after, count) >= sample(&before, count) + 8.0);
    assert!(sample(&after, "greenloop_loop_switches_total") > 0.0);
    assert!(sample(&after, "greenloop_green_threads") >= 1.0);
    assert_eq!(sample(&after, "greenloop_workers"), 1.0);
}

#[test]
fn request_latency_is_counted_in_the_bucket_of_its_duration() {
    let demo = Demo::start(&["--quiet"]);
    let before = samples(&demo.get("/metrics").1);
    for _ in 0..5 {
        assert_eq!(demo.get("/sleep?ms=40").0, 200);
    }
    let after = samples(&demo.get("/metrics").1);
    let grew = |name: &str| sample(&after, name) - sample(&before, name);
    let bucket = |le: &str| format!("greenloop_http_request_duration_seconds_bucket{{le=\"{le}\"}}");
    // Six requests finished between the two renderings: the first /metrics
    // (fast) and five sleeps of 40 ms, none of which fits under 25 ms.
    assert_eq!(grew(&bucket("+Inf")), 6.0);
    assert!(grew(&bucket("0.025")) <= 1.0, "a 40 ms sleep counted under 25 ms");
    // The sum moved by the sleeps' time: at least 0.2 s, and not by a clock
    // reading taken from anything but the request (that would be the
    // machine's uptime, hours).
    let sum = grew("greenloop_http_request_duration_seconds_sum");
    assert!((0.2..30.0).contains(&sum), "five 40 ms requests summed to {sum} s");
}

/// 16 MiB (the default `--max-body`) of bytes that are not all alike.
fn sixteen_mib() -> Vec<u8> {
    (0..16u32 << 20).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect()
}

#[test]
fn a_client_that_sends_the_whole_body_before_reading_gets_its_echo() {
    // The demo's defaults (access log on); the client writes all 16 MiB, then reads.
    let demo = Demo::start(&[]);
    let data = sixteen_mib();
    let mut c = RawClient::connect(demo.addr());
    c.send(format!("POST /echo HTTP/1.1\r\nHost: d\r\nContent-Length: {}\r\n\r\n", data.len()));
    c.send(&data);
    let r = c.response();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.body.len(), data.len());
    assert!(r.body == data, "the echo differs");
    // The connection goes on.
    c.send("GET /plaintext HTTP/1.1\r\nHost: d\r\n\r\n");
    assert_eq!(c.response().text(), "Hello, World!");
}

#[test]
fn python_http_client_gets_a_sixteen_mib_echo() {
    // Python's http.client sends the whole body before it reads the answer.
    if Command::new("python3").arg("--version").output().is_err() {
        eprintln!("python3 not found: skipping the http.client echo");
        return;
    }
    let demo = Demo::start(&[]);
    let script = r#"
import http.client, os, sys
data = os.urandom(16 << 20)
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=60)
c.request("POST", "/echo", body=data, headers={"Content-Type": "application/x-test"})
r = c.getresponse()
body = r.read()
print(r.status, r.getheader("Content-Type"), len(body), body == data)
"#;
    let out =
        Command::new("python3").args(["-c", script, &demo.addr().port().to_string()]).output().expect("run python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "python3 failed: {stdout} {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stdout.trim(), format!("200 application/x-test {} True", 16 << 20));
}

#[test]
fn echo_refuses_a_body_over_max_body_with_a_reason() {
    let demo = Demo::start(&["--max-body", "1000"]);
    let chunk = format!("{:x}\r\n{}\r\n", 600, "x".repeat(600));
    for (framing, body) in [
        ("Content-Length: 2000".to_owned(), "y".repeat(2000)),
        ("Transfer-Encoding: chunked".to_owned(), format!("{chunk}{chunk}0\r\n\r\n")),
    ] {
        let mut c = RawClient::connect(demo.addr());
        c.send(format!("POST /echo HTTP/1.1\r\nHost: d\r\n{framing}\r\n\r\n{body}"));
        let r = c.response();
        assert_eq!(r.status, 413, "{framing}: {}", r.text());
        assert!(r.text().contains("large") || r.text().contains("limit"), "{framing}: reason {:?}", r.text());
    }
    // At the limit it is echoed.
    let (status, echoed) = request(
        demo.addr(),
        &format!(
            "POST /echo HTTP/1.1\r\nHost: d\r\nConnection: close\r\nContent-Length: 1000\r\n\r\n{}",
            "z".repeat(1000)
        ),
    );
    assert_eq!((status, echoed.len()), (200, 1000));
}

#[test]
fn echo_stream_sends_the_body_back_while_it_arrives() {
    let demo = Demo::start(&[]);
    let data = sixteen_mib();
    let mut c = RawClient::connect(demo.addr());
    let mut w = c.w.try_clone().unwrap();
    let sent = data.clone();
    // A full-duplex client: one thread writes while the test reads.
    let writer = std::thread::spawn(move || {
        w.write_all(b"POST /echo/stream HTTP/1.1\r\nHost: d\r\nTransfer-Encoding: chunked\r\n\r\n").unwrap();
        for piece in sent.chunks(1 << 20) {
            w.write_all(format!("{:x}\r\n", piece.len()).as_bytes()).unwrap();
            w.write_all(piece).unwrap();
            w.write_all(b"\r\n").unwrap();
        }
        w.write_all(b"0\r\n\r\n").unwrap();
    });
    let r = c.response();
    writer.join().unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    assert!(r.body == data, "the echo differs");
}

#[test]
fn a_sigterm_right_after_the_banner_drains_instead_of_killing() {
    // A process manager may stop the server the moment it says it is
    // serving; the signal must already be the graceful stop by then.
    for _ in 0..10 {
        let mut demo = Demo::start(&["--quiet"]);
        // SAFETY: kill(2) on our own child's pid.
        assert_eq!(unsafe { libc::kill(demo.child.id() as i32, libc::SIGTERM) }, 0);
        let status = demo.child.wait().unwrap();
        assert!(status.success(), "killed by the signal instead of stopping: {status:?}");
    }
}
