//! A logger that never blocks the loop: records are formatted on the caller
//! and written to stderr by a background thread. When the terminal cannot
//! keep up, records are dropped (and counted) rather than stalling requests.
//! [`flush`] waits for the queue to drain, for the last lines before exit.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Sender, SyncSender, TrySendError, channel, sync_channel};
use std::time::Duration;

use log::{Level, LevelFilter, Log, Metadata, Record};

/// What the writer thread receives.
enum Msg {
    /// A formatted line.
    Line(String),
    /// Acknowledge once every earlier line is written.
    Flush(Sender<()>),
}

/// Longest [`flush`] waits for the writer thread.
const FLUSH_TIMEOUT: Duration = Duration::from_secs(2);

struct StderrLogger {
    tx: SyncSender<Msg>,
    dropped: AtomicU64,
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
        match self.tx.try_send(Msg::Line(line)) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Blocks until the lines logged so far are written (at most 2 s):
    /// for the end of the program, never on the loop.
    fn flush(&self) {
        let (ack, done) = channel();
        if self.tx.send(Msg::Flush(ack)).is_ok() {
            let _ = done.recv_timeout(FLUSH_TIMEOUT);
        }
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
    let (tx, rx) = sync_channel::<Msg>(4096);
    std::thread::Builder::new()
        .name("greenloop-log".into())
        .spawn(move || {
            let stderr = std::io::stderr();
            for msg in rx {
                match msg {
                    Msg::Line(line) => {
                        let _ = stderr.lock().write_all(line.as_bytes());
                    }
                    Msg::Flush(ack) => {
                        let _ = ack.send(());
                    }
                }
            }
        })
        .expect("start the log thread");
    let logger = Box::leak(Box::new(StderrLogger { tx, dropped: AtomicU64::new(0), level }));
    if log::set_logger(logger).is_ok() {
        log::set_max_level(level);
    }
}
