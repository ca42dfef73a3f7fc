//! Stopping a server: the [`ShutdownHandle`], what a worker does when told,
//! and the SIGINT/SIGTERM watcher.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;

use super::context::worker_ctx;
use crate::Handle;

/// Stops a server gracefully: no new connections, requests in flight finish
/// (within the grace period), and so do requests whose bytes had begun to
/// arrive (a head half received, requests pipelined behind the current one:
/// the last answer says `Connection: close`); idle connections close, stop
/// hooks run.
/// `Send + Sync + Clone`; callable from any thread, any number of times.
#[derive(Clone)]
pub struct ShutdownHandle {
    inner: Arc<ShutdownInner>,
}

impl std::fmt::Debug for ShutdownHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let requested = self.inner.requested.load(std::sync::atomic::Ordering::Relaxed);
        f.debug_struct("ShutdownHandle").field("requested", &requested).finish_non_exhaustive()
    }
}

struct ShutdownInner {
    requested: AtomicBool,
    /// Signals are watched for this server (at most one watcher).
    signals_watched: AtomicBool,
    workers: Mutex<Vec<Handle>>,
}

impl ShutdownHandle {
    pub(super) fn new() -> ShutdownHandle {
        ShutdownHandle {
            inner: Arc::new(ShutdownInner {
                requested: AtomicBool::new(false),
                signals_watched: AtomicBool::new(false),
                workers: Mutex::new(Vec::new()),
            }),
        }
    }

    pub(super) fn add_worker(&self, h: Handle) {
        self.inner.workers.lock().unwrap_or_else(|e| e.into_inner()).push(h.clone());
        if self.is_requested() {
            h.spawn(begin_worker_shutdown);
        }
    }

    /// Starts the graceful shutdown (returns at once).
    pub fn shutdown(&self) {
        if self.inner.requested.swap(true, Ordering::AcqRel) {
            return;
        }
        for h in self.inner.workers.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            h.spawn(begin_worker_shutdown);
        }
    }

    /// Whether a shutdown was requested.
    pub fn is_requested(&self) -> bool {
        self.inner.requested.load(Ordering::Acquire)
    }
}

/// Stops `handle` gracefully on the first SIGINT/SIGTERM; exits the process
/// on the second. Once per server: a second call does nothing.
pub(super) fn watch_signals(handle: ShutdownHandle) -> io::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    if handle.inner.signals_watched.swap(true, Ordering::AcqRel) {
        return Ok(());
    }
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
    thread::Builder::new().name("greenloop-signals".into()).spawn(move || {
        let mut seen = 0;
        for sig in signals.forever() {
            seen += 1;
            if seen == 1 {
                log::info!("greenloop: signal {sig}: finishing requests in flight (send again to exit at once)");
                handle.shutdown();
            } else {
                log::warn!("greenloop: second signal: exiting now");
                std::process::exit(130);
            }
        }
    })?;
    Ok(())
}

/// On a worker's loop: stop accepting and wake every connection and the acceptor.
fn begin_worker_shutdown() {
    let Some(ctx) = worker_ctx() else { return };
    if ctx.shutting_down.replace(true) {
        return;
    }
    let connections = ctx.connections.borrow().all();
    for c in connections {
        c.wake();
    }
    if let Some(a) = ctx.acceptor.borrow().as_ref() {
        a.unpark();
    }
}
