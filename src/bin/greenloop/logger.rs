//! A logger that never blocks the loop: records are formatted on the caller
//! and written to stderr by a background thread (a [`LineSink`]). When the
//! terminal cannot keep up, records are dropped (and counted) rather than
//! stalling requests; the log thread then says how many, at most once per
//! 10 s, and `/metrics` counts them. [`flush`] waits for the queue to drain, for the last
//! lines before exit.

use std::io::Write;
use std::time::Duration;

use greenloop::http::middleware::LineSink;
use log::{Level, LevelFilter, Log, Metadata, Record};

/// Longest [`flush`] waits for the writer thread.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(2);

struct StderrLogger {
    sink: LineSink,
    level: LevelFilter,
}

impl Log for StderrLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= self.level
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        let line = if record.target() == "greenloop::access" {
            format!("{}\n", record.args())
        } else {
            let level = match record.level() {
                Level::Error => "ERROR",
                Level::Warn => "WARN ",
                Level::Info => "INFO ",
                Level::Debug => "DEBUG",
                Level::Trace => "TRACE",
            };
            format!("{level} {}\n", record.args())
        };
        self.sink.send(line);
    }

    /// Blocks until the lines logged so far are written (at most 2 s):
    /// for the end of the program, never on the loop.
    fn flush(&self) {
        self.sink.flush_within(FLUSH_TIMEOUT);
    }
}

/// Waits until the lines logged so far are written (see [`StderrLogger`]).
pub fn flush() {
    log::logger().flush();
}

/// Installs the logger; the level comes from `GREENLOOP_LOG` (error, warn,
/// info, debug, trace, off; default info).
pub fn init() {
    let level = std::env::var("GREENLOOP_LOG").ok().and_then(|s| s.parse().ok()).unwrap_or(LevelFilter::Info);
    let stderr = std::io::stderr();
    // Reports of dropped lines are written by the log thread itself, after
    // the lines still queued, rather than queued behind them.
    let sink = LineSink::start_with_report(
        "greenloop-log",
        4096,
        move |line| {
            let _ = stderr.lock().write_all(line.as_bytes());
        },
        || {},
        |summary| {
            let _ = writeln!(std::io::stderr().lock(), "WARN  {summary}");
        },
    )
    .expect("start the log thread");
    let logger = Box::leak(Box::new(StderrLogger { sink, level }));
    if log::set_logger(logger).is_ok() {
        log::set_max_level(level);
    }
}
