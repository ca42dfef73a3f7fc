//! The watchdog names the green thread that blocks the loop, and only that one.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use log::{Log, Metadata, Record};

struct Capture;
static LINES: Mutex<Vec<(Instant, String)>> = Mutex::new(Vec::new());

impl Log for Capture {
    fn enabled(&self, m: &Metadata<'_>) -> bool {
        m.target().starts_with("greenloop::watchdog")
    }
    fn log(&self, r: &Record<'_>) {
        if self.enabled(r.metadata()) {
            LINES.lock().unwrap().push((Instant::now(), r.args().to_string()));
        }
    }
    fn flush(&self) {}
}

fn install() {
    static LOGGER: Capture = Capture;
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(log::LevelFilter::Warn);
}

fn lines_with(needle: &str) -> Vec<(Instant, String)> {
    LINES.lock().unwrap().iter().filter(|(_, l)| l.contains(needle)).cloned().collect()
}

#[test]
fn a_blocking_green_thread_is_named_and_timed() {
    install();
    let rt = greenloop::Builder::new().watchdog(Some(Duration::from_millis(20))).build().unwrap();
    let started = rt.run(|| {
        let start = Instant::now();
        greenloop::spawn_named("blocker-one", || std::thread::sleep(Duration::from_millis(150))).join().unwrap();
        greenloop::sleep(Duration::from_millis(30)); // let the watchdog see the release
        let stats = greenloop::watchdog::blocking_stats().unwrap();
        assert!(stats.incidents >= 1, "{stats:?}");
        assert!(stats.blocked >= Duration::from_millis(100), "{stats:?}");
        start
    });
    let held = lines_with("'blocker-one' on");
    let first = held.iter().find(|(_, l)| l.contains("has held the loop")).expect("a report while blocked");
    assert!(first.1.contains("greenloop::offload"), "the report must point at offload: {}", first.1);
    let after = first.0 - started;
    assert!(after < Duration::from_millis(20 + 50), "reported {after:?} after the start (threshold 20 ms)");
    assert_eq!(held.iter().filter(|(_, l)| l.contains("has held the loop")).count(), 1, "one report per incident");
    assert!(held.iter().any(|(_, l)| l.contains("released the loop")), "a closing report with the total");
}

#[test]
fn green_threads_that_park_often_are_never_reported() {
    install();
    let rt = greenloop::Builder::new().watchdog(Some(Duration::from_millis(20))).build().unwrap();
    rt.run(|| {
        greenloop::join_all((0..20).map(|i| {
            move || {
                greenloop::park::current_name();
                greenloop::watchdog::set_label(format!("polite-{i}"));
                for _ in 0..20 {
                    // A little CPU work, then a park: never near the threshold.
                    let mut x = 0u64;
                    for k in 0..10_000 {
                        x = x.wrapping_add(k);
                    }
                    std::hint::black_box(x);
                    greenloop::sleep(Duration::from_millis(2));
                }
            }
        }));
    });
    assert!(lines_with("polite-").is_empty(), "{:?}", lines_with("polite-"));
}

#[test]
fn assert_no_blocking_catches_a_blocking_call() {
    greenloop::run(|| {
        greenloop::watchdog::assert_no_blocking(Duration::from_millis(50), || {
            for _ in 0..5 {
                greenloop::sleep(Duration::from_millis(20));
            }
        });
        let caught = std::panic::catch_unwind(|| {
            greenloop::watchdog::assert_no_blocking(Duration::from_millis(50), || {
                std::thread::sleep(Duration::from_millis(120))
            })
        });
        let msg = caught.unwrap_err();
        let msg = msg.downcast_ref::<String>().unwrap();
        assert!(msg.contains("held the loop"), "{msg}");
    });
}

#[test]
fn a_label_cannot_reach_the_terminal_raw() {
    install();
    // One character of each class that could fool a terminal or a reader:
    // an 8-bit control (U+009B, CSI), ESC, a newline, a line separator, a
    // bidi mark, an embedding, an override and an isolate; and the label's
    // own quote and a backslash.
    let label = "GET /x?\u{9b}31m\u{1b}[2J\n\u{2028}\u{200f}\u{202b}\u{202e}gpj.exe\u{2067}'\\ (request 1)";
    let rt = greenloop::Builder::new().watchdog(Some(Duration::from_millis(20))).build().unwrap();
    rt.run(move || {
        greenloop::spawn(move || {
            greenloop::watchdog::set_label(label);
            std::thread::sleep(Duration::from_millis(100));
        })
        .join()
        .unwrap();
        greenloop::sleep(Duration::from_millis(30)); // let the watchdog see the release
    });
    let escaped = r"'GET /x?\u{009b}31m\x1b[2J\n\u{2028}\u{200f}\u{202b}\u{202e}gpj.exe\u{2067}\'\\ (request 1)'";
    let reports = lines_with("GET /x?");
    assert!(reports.iter().any(|(_, l)| l.contains("has held the loop") && l.contains(escaped)), "{reports:#?}");
    assert!(reports.iter().any(|(_, l)| l.contains("released the loop") && l.contains(escaped)), "{reports:#?}");
    for (_, line) in &reports {
        let raw: Vec<char> =
            line.chars().filter(|&c| c.is_control() || ('\u{2000}'..='\u{206f}').contains(&c)).collect();
        assert!(raw.is_empty(), "raw {raw:?} in {line:?}");
    }
}

/// Waits (up to 60 s: the first symbolisation reads the test binary's debug
/// information) for a line containing both needles.
fn wait_for_line_with(a: &str, b: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some((_, l)) = lines_with(a).into_iter().find(|(_, l)| l.contains(b)) {
            return l;
        }
        assert!(Instant::now() < deadline, "no line with {a:?} and {b:?}: {:?}", LINES.lock().unwrap());
        std::thread::sleep(Duration::from_millis(20));
    }
}

static SLEEP_LINE: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

#[inline(never)]
fn sleeps_on_the_loop() {
    SLEEP_LINE.store(line!() + 1, std::sync::atomic::Ordering::Relaxed);
    std::thread::sleep(Duration::from_millis(150));
}

#[test]
fn the_report_names_the_blocking_call_and_the_users_function_with_file_and_line() {
    install();
    let rt = greenloop::Builder::new().watchdog(Some(Duration::from_millis(20))).build().unwrap();
    rt.run(|| greenloop::spawn_named("blocker-stack", sleeps_on_the_loop).join().unwrap());
    let line = wait_for_line_with("'blocker-stack'", "blocked the loop in");
    let at = SLEEP_LINE.load(std::sync::atomic::Ordering::Relaxed);
    let user = format!("sleeps_on_the_loop (tests/watchdog.rs:{at})");
    assert!(line.contains(&user), "expected {user:?} in: {line}");
    let call = line.split(" in ").nth(1).unwrap();
    assert!(call.starts_with("std::thread::"), "the blocking call comes first: {line}");
    let incident = greenloop::watchdog::recent_incidents()
        .into_iter()
        .find(|i| i.task.contains("'blocker-stack'"))
        .expect("the incident is kept");
    assert!(incident.stack.as_deref().is_some_and(|s| s.contains(&user)), "{incident:?}");
    assert!(incident.frames.as_deref().is_some_and(|f| f.contains("sleeps_on_the_loop")), "{incident:?}");
}

#[test]
fn labels_are_escaped_before_they_reach_a_terminal() {
    install();
    let rt = greenloop::Builder::new().watchdog(Some(Duration::from_millis(20))).build().unwrap();
    rt.run(|| {
        greenloop::spawn(|| {
            greenloop::watchdog::set_label("evil\u{1b}[2J\u{202e}label");
            std::thread::sleep(Duration::from_millis(80));
        })
        .join()
        .unwrap();
        greenloop::sleep(Duration::from_millis(30));
    });
    let held = lines_with("evil");
    assert!(!held.is_empty());
    for (_, l) in &held {
        assert!(!l.contains('\u{1b}') && !l.contains('\u{202e}'), "raw control characters in: {l:?}");
        assert!(l.contains("evil\\x1b[2J\\u{202e}label"), "{l}");
    }
}

#[test]
fn a_loop_that_was_idle_is_still_caught_within_the_threshold() {
    install();
    let rt = greenloop::Builder::new().watchdog(Some(Duration::from_millis(20))).build().unwrap();
    let started = rt.run(|| {
        // Long enough for the watchdog to see the loop asleep and park.
        greenloop::sleep(Duration::from_millis(300));
        let start = Instant::now();
        greenloop::spawn_named("blocker-after-idle", || std::thread::sleep(Duration::from_millis(120))).join().unwrap();
        start
    });
    let (seen, _) = lines_with("'blocker-after-idle' on")
        .into_iter()
        .find(|(_, l)| l.contains("has held the loop"))
        .expect("a report while blocked");
    let after = seen - started;
    assert!(after < Duration::from_millis(20 + 50), "reported {after:?} after the start (threshold 20 ms)");
}

static ASSERT_LINE: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

#[inline(never)]
fn sleeps_in_an_assertion() {
    ASSERT_LINE.store(line!() + 1, std::sync::atomic::Ordering::Relaxed);
    std::thread::sleep(Duration::from_millis(120));
}

#[test]
fn assert_no_blocking_failures_carry_the_stack() {
    let rt = greenloop::Builder::new().watchdog(Some(Duration::from_millis(20))).build().unwrap();
    rt.run(|| {
        let caught = std::panic::catch_unwind(|| {
            greenloop::watchdog::assert_no_blocking(Duration::from_millis(40), sleeps_in_an_assertion)
        });
        let msg = caught.unwrap_err();
        let msg = msg.downcast_ref::<String>().unwrap();
        let at = ASSERT_LINE.load(std::sync::atomic::Ordering::Relaxed);
        assert!(msg.contains(&format!("sleeps_in_an_assertion (tests/watchdog.rs:{at})")), "{msg}");
    });
}

/// A sync HTTP client (ureq) waiting for a slow answer on the loop's thread.
#[inline(never)]
fn calls_a_sync_http_client(url: &str) {
    let _ = ureq::get(url).call();
}

#[test]
fn a_known_blocking_crate_gets_a_hint_naming_the_green_alternative() {
    install();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        let (mut s, _) = listener.accept().unwrap();
        let mut buf = [0u8; 1024];
        let _ = s.read(&mut buf);
        std::thread::sleep(Duration::from_millis(200));
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
    });
    let rt = greenloop::Builder::new().watchdog(Some(Duration::from_millis(20))).build().unwrap();
    rt.run(move || greenloop::spawn_named("blocker-ureq", move || calls_a_sync_http_client(&url)).join().unwrap());
    let line = wait_for_line_with("'blocker-ureq'", "hint:");
    assert!(line.contains("greenloop::http::Client"), "{line}");
    let incident = greenloop::watchdog::recent_incidents()
        .into_iter()
        .find(|i| i.task.contains("'blocker-ureq'") && i.stack.is_some())
        .expect("the incident is kept");
    assert!(incident.hint.is_some_and(|h| h.starts_with("ureq blocks")), "{incident:?}");
}
