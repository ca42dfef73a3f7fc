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
    let started = rt.block_on(|| {
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
    rt.block_on(|| {
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
    rt.block_on(move || {
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
