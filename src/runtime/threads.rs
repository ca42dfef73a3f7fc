//! Every green thread of every loop in the process, as a snapshot
//! ([`threads`]): Go's goroutine dump for greenloop.
//!
//! Each loop answers for itself, on its own thread: [`threads`] spawns a
//! green thread onto every other loop (through its [`Handle`]) that lists
//! that loop's tasks and sends the list back. No other thread ever touches
//! a loop's task table, so taking a dump under load is as safe as any other
//! remote spawn, and costs nothing while nobody asks: the only standing cost
//! is the byte each park stores to say what it waits on, and the loop clock
//! it copies to say since when.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use super::core::{Shared, known_loops, try_core};
use super::handle::Handle;
pub use super::thread_info::{GreenThread, ThreadState, WaitReason};

/// A snapshot of every green thread on every loop of this process: id,
/// label, state, what it waits on and for how long.
///
/// Call it from anywhere: a green thread (it parks while the other loops
/// answer; its own loop answers directly) or a plain OS thread (it blocks).
/// A loop that does not answer within `timeout` (a green thread is holding
/// it: see the watchdog's report) is left out and named in the second list.
/// The green threads that collect the lists are left out of them.
pub fn threads_timeout(timeout: Duration) -> (Vec<GreenThread>, Vec<String>) {
    let here = try_core().map(|c| c.shared.id);
    let loops: Vec<(Arc<Shared>, String)> = known_loops();
    let mut out = Vec::new();
    let mut silent = Vec::new();
    let mut pending = Vec::new();
    for (shared, thread) in loops {
        if !shared.alive.load(std::sync::atomic::Ordering::Acquire) {
            continue;
        }
        if Some(shared.id) == here {
            if let Some(c) = try_core() {
                out.extend(c.green_threads(&thread, false));
            }
            continue;
        }
        let (tx, rx) = super::sync::oneshot::channel();
        let name = thread.clone();
        let sent = Handle::from_shared(shared).spawn(move || {
            if let Some(c) = try_core() {
                let _ = tx.send(c.green_threads(&name, true));
            }
        });
        drop(sent);
        pending.push((rx, thread));
    }
    let deadline = std::time::Instant::now() + timeout;
    for (rx, thread) in pending {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(list) => out.extend(list),
            Err(_) => silent.push(thread),
        }
    }
    (out, silent)
}

/// [`threads_timeout`] with a one-second wait for each loop's answer,
/// without the list of loops that did not answer.
pub fn threads() -> Vec<GreenThread> {
    threads_timeout(Duration::from_secs(1)).0
}

/// Appends `s` to `out` as a JSON string literal (quotes, backslashes and
/// control characters escaped): for handlers that write JSON by hand.
pub fn json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}
