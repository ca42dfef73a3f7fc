//! What the demo writes to its log, run as a user runs it: text a client
//! chose is escaped, request bodies stay out unless asked, and lines the
//! log could not keep up with are counted and reported.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc::channel;
use std::time::Duration;

mod support;
use support::demo::{BIN, Demo};
use support::raw::{RawClient, request};

/// Characters that must never reach a terminal raw, one of each class: an
/// 8-bit control (U+009B, CSI), the line separator, the bidi marks, an
/// embedding, the right-to-left override and an isolate.
const EVIL: &str = "\u{9b}31m\u{2028}\u{200e}\u{200f}\u{202a}\u{202e}gpj.exe\u{2066}\u{2069}";
/// How the log shows [`EVIL`].
const ESCAPED: &str = r"\u{009b}31m\u{2028}\u{200e}\u{200f}\u{202a}\u{202e}gpj.exe\u{2066}\u{2069}";

/// Whether `line` holds a control or a character of U+2000..=U+206F raw.
fn raw_chars(line: &str) -> Vec<char> {
    line.chars().filter(|&c| c.is_control() || ('\u{2000}'..='\u{206f}').contains(&c)).collect()
}

#[test]
fn a_request_target_cannot_write_controls_or_bidi_characters_into_the_log() {
    let demo = Demo::start(&[]);
    let target = format!("/block?ms=60&q={EVIL}");
    let (status, _) = request(
        demo.addr(),
        &format!("GET {target} HTTP/1.1\r\nHost: d\r\nUser-Agent: x{EVIL}\r\nConnection: close\r\n\r\n"),
    );
    assert_eq!(status, 200, "the server accepts such a target (the http crate allows UTF-8 in paths)");
    let (_, report) =
        demo.wait_for_line("has held the loop", Duration::from_secs(10)).expect("a watchdog warning on stderr");
    assert!(report.contains(&format!("'GET /block?ms=60&q={ESCAPED} (request ")), "{report:?}");
    assert!(raw_chars(&report).is_empty(), "raw {:?} in {report:?}", raw_chars(&report));
    let (_, access) = demo.wait_for_line(" uri=", Duration::from_secs(10)).expect("an access log line");
    assert!(access.contains(&format!(" uri=\"/block?ms=60&q={ESCAPED}\" ")), "{access:?}");
    assert!(access.contains(&format!(" ua=\"x{ESCAPED}\"")), "{access:?}");
    assert!(raw_chars(&access).is_empty(), "raw {:?} in {access:?}", raw_chars(&access));
}

/// A POST whose body holds a password, to a route that refuses it (405):
/// the answer does not depend on the body, the access line may show it.
fn post_secret(demo: &Demo) -> String {
    let (status, _) = request(
        demo.addr(),
        "POST /plaintext HTTP/1.1\r\nHost: d\r\nConnection: close\r\nContent-Length: 16\r\n\r\npassword=hunter2",
    );
    assert_eq!(status, 405);
    demo.wait_for_line(" uri=/plaintext ", Duration::from_secs(10)).expect("an access log line").1
}

#[test]
fn request_bodies_stay_out_of_the_log_unless_asked() {
    let line = post_secret(&Demo::start(&[]));
    assert!(line.ends_with(" body=-"), "{line}");
    assert!(!line.contains("hunter2"), "{line}");

    let line = post_secret(&Demo::start(&["--log-bodies"]));
    assert!(line.ends_with(" body=password=hunter2"), "{line}");
}

/// The value of the sample `name` (with its labels) in `/metrics` text.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
}

#[test]
fn lines_dropped_when_the_terminal_stalls_are_counted_and_reported() {
    // The demo's stderr is a pipe nobody reads once the banner is seen: its
    // log thread blocks on it, its queue fills, and lines are dropped.
    let mut child = Command::new(BIN)
        .args(["--bind", "127.0.0.1:0"])
        .env("GREENLOOP_LOG", "info")
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("start greenloop");
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let child = Kill(child);
    let mut line = String::new();
    let addr = loop {
        line.clear();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "no banner");
        if let Some(a) = line.split_whitespace().find_map(|w| w.strip_prefix("http://")) {
            break a.parse().unwrap();
        }
    };
    // 8000 access lines: the pipe holds a few hundred, the queue 4096.
    let mut conn = RawClient::connect(addr);
    for _ in 0..80 {
        conn.send("GET /plaintext HTTP/1.1\r\nHost: d\r\n\r\n".repeat(100));
        for _ in 0..100 {
            assert_eq!(conn.response().status, 200);
        }
    }
    conn.send("GET /metrics HTTP/1.1\r\nHost: d\r\n\r\n");
    let metrics = conn.response().text();
    let dropped = sample(&metrics, "greenloop_log_lines_dropped_total{sink=\"greenloop-log\"}")
        .unwrap_or_else(|| panic!("no dropped count in {metrics}"));
    assert!(dropped > 0.0, "{metrics}");
    assert_eq!(sample(&metrics, "greenloop_log_lines_dropped_total{sink=\"greenloop-access-log\"}"), Some(0.0));

    // Reading again: the log thread catches up and says what it dropped
    // (at most once per 10 s, so within about that of the first drop).
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            if line.contains("greenloop-log: dropped") && tx.send(line).is_err() {
                break;
            }
        }
    });
    let report = rx.recv_timeout(Duration::from_secs(40)).expect("a report of the dropped lines");
    let n: f64 = report
        .split("dropped ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{report}"));
    assert!(report.starts_with("WARN  greenloop-log: dropped "), "{report}");
    assert!(report.ends_with(" s because the writer could not keep up"), "{report}");
    assert!(n >= dropped, "the report counts at least the drops seen in /metrics: {report} vs {dropped}");
    drop(child);
}
