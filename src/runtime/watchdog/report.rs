//! Symbolising captured stacks on a thread of their own (started at the
//! first incident), so that reading the binary's debug information, which
//! takes a while the first time, delays neither the loops nor the
//! watchdog's watch over them. The debug information it reads is dropped
//! once no incident has come for [`KEEP_SYMBOLS`], so a server that blocked
//! once does not keep it resident for good.

use std::sync::Mutex;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::time::Duration;

use super::capture::RawStack;
use super::symbols;
use super::{hints, incidents};

/// How long the debug information is kept after the last symbolised stack:
/// long enough that a burst of incidents reads it once.
const KEEP_SYMBOLS: Duration = Duration::from_secs(30);

struct Job {
    seq: u64,
    label: String,
    thread: String,
    stack: RawStack,
}

/// Logs the blocking line of incident `seq` once symbolised, and files it
/// with the incident.
pub(crate) fn symbolise_later(seq: u64, label: String, thread: String, stack: RawStack) {
    static JOBS: Mutex<Option<Sender<Job>>> = Mutex::new(None);
    let mut jobs = JOBS.lock().unwrap_or_else(|e| e.into_inner());
    if jobs.is_none() {
        let (tx, rx) = channel::<Job>();
        let spawned = std::thread::Builder::new().name("greenloop-stacks".into()).spawn(move || serve(rx));
        if spawned.is_err() {
            return;
        }
        *jobs = Some(tx);
    }
    if let Some(tx) = jobs.as_ref() {
        let _ = tx.send(Job { seq, label, thread, stack });
    }
}

/// The symbolising thread: each job as it comes; the debug information
/// forgotten after `KEEP_SYMBOLS` without one (and no wake-up while there is
/// nothing to forget).
fn serve(rx: Receiver<Job>) {
    let mut holding = false;
    loop {
        let job = if holding {
            match rx.recv_timeout(KEEP_SYMBOLS) {
                Ok(job) => job,
                Err(RecvTimeoutError::Timeout) => {
                    symbols::forget();
                    holding = false;
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => return,
            }
        } else {
            match rx.recv() {
                Ok(job) => job,
                Err(_) => return,
            }
        };
        describe(job);
        holding = true;
    }
}

fn describe(job: Job) {
    let frames = symbols::frames(&job.stack);
    let line = symbols::summary(&frames);
    if line.is_empty() {
        return;
    }
    // Filed before it is logged: whoever reads the log line finds it filed.
    let all = symbols::full(&frames);
    let hint = hints::hint(frames.iter().map(|f| f.name.as_str()));
    incidents::update(job.seq, |i| {
        i.stack = Some(line.clone());
        i.frames = Some(all);
        i.hint = hint;
    });
    log::warn!(
        target: "greenloop::watchdog",
        "green thread {} on '{}' blocked the loop in {line}",
        job.label,
        job.thread
    );
    if let Some(hint) = hint {
        log::warn!(target: "greenloop::watchdog", "green thread {}: hint: {hint}", job.label);
    }
}
