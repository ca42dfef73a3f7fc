//! Symbolising captured stacks on a thread of their own (started at the
//! first incident), so that reading the binary's debug information, which
//! takes a while the first time, delays neither the loops nor the
//! watchdog's watch over them.

use std::sync::Mutex;
use std::sync::mpsc::{Sender, channel};

use super::capture::RawStack;
use super::incidents;
use super::symbols;

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
        let spawned = std::thread::Builder::new().name("greenloop-stacks".into()).spawn(move || {
            for job in rx {
                describe(job);
            }
        });
        if spawned.is_err() {
            return;
        }
        *jobs = Some(tx);
    }
    if let Some(tx) = jobs.as_ref() {
        let _ = tx.send(Job { seq, label, thread, stack });
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
    incidents::update(job.seq, |i| {
        i.stack = Some(line.clone());
        i.frames = Some(all);
    });
    log::warn!(
        target: "greenloop::watchdog",
        "green thread {} on '{}' blocked the loop in {line}",
        job.label,
        job.thread
    );
}
