//! A logger that never blocks the loop: records are formatted on the caller
//! and written to stderr by a background thread. When the terminal cannot
//! keep up, records are dropped (and counted) rather than stalling requests.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};

use log::{Level, LevelFilter, Log, Metadata, Record};

struct StderrLogger {
    tx: SyncSender<String>,
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
        match self.tx.try_send(line) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn flush(&self) {}
}

/// Installs the logger; the level comes from `GREENLOOP_LOG` (error, warn,
/// info, debug, trace, off; default info).
pub fn init() {
    let level = std::env::var("GREENLOOP_LOG").ok().and_then(|s| s.parse().ok()).unwrap_or(LevelFilter::Info);
    let (tx, rx) = sync_channel::<String>(4096);
    std::thread::Builder::new()
        .name("greenloop-log".into())
        .spawn(move || {
            let stderr = std::io::stderr();
            for line in rx {
                let mut out = stderr.lock();
                let _ = out.write_all(line.as_bytes());
            }
        })
        .expect("start the log thread");
    let logger = Box::leak(Box::new(StderrLogger { tx, dropped: AtomicU64::new(0), level }));
    if log::set_logger(logger).is_ok() {
        log::set_max_level(level);
    }
}
