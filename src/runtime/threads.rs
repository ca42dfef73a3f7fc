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

use std::fmt::{self, Write as _};
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

/// The dump as text, one green thread per line grouped by loop, the way Go
/// prints goroutines: `greenloop-worker-0 #12 'GET /sleep?ms=500 (request 3)': parked on timer for 120 ms`.
pub fn render_text(threads: &[GreenThread], silent: &[String]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{} green threads", threads.len());
    let mut last: Option<&str> = None;
    for t in threads {
        // A dump of many threads is written in slices between which the
        // loop runs the others (nothing outside a green thread).
        super::time::consume_budget();
        if last != Some(t.worker.as_str()) {
            let _ = writeln!(out, "\n{}:", super::watchdog::escape(&t.worker));
            last = Some(&t.worker);
        }
        let _ = writeln!(out, "  {}", Line(t));
    }
    for s in silent {
        let _ = writeln!(out, "\n{}: did not answer (a green thread holds its loop)", super::watchdog::escape(s));
    }
    out
}

struct Line<'a>(&'a GreenThread);

impl fmt::Display for Line<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.0;
        write!(f, "#{}", t.id)?;
        if let Some(l) = &t.label {
            write!(f, " '{}'", super::watchdog::escape(l))?;
        }
        write!(f, ": {}", t.state.as_str())?;
        if let Some(w) = t.waiting_on {
            write!(f, " on {}", w.as_str())?;
            if let Some(fd) = t.fd {
                write!(f, " (fd {fd})")?;
            }
        }
        if let Some(d) = t.since {
            write!(f, " for {}", Millis(d))?;
        }
        Ok(())
    }
}

struct Millis(Duration);

impl fmt::Display for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_secs_f64() * 1000.0;
        if ms < 10.0 { write!(f, "{ms:.1} ms") } else { write!(f, "{ms:.0} ms") }
    }
}

/// The dump as JSON: `{"threads":[{"worker":..,"id":..,"label":..,"state":..,
/// "waiting_on":..,"fd":..,"since_ms":..}],"silent":[..]}` (absent facts are `null`).
pub fn render_json(threads: &[GreenThread], silent: &[String]) -> String {
    let mut out = String::from("{\"threads\":[");
    for (i, t) in threads.iter().enumerate() {
        super::time::consume_budget();
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"worker\":");
        json_str(&mut out, &t.worker);
        let _ = write!(out, ",\"id\":{},\"label\":", t.id);
        match &t.label {
            Some(l) => json_str(&mut out, l),
            None => out.push_str("null"),
        }
        let _ = write!(out, ",\"state\":\"{}\",\"waiting_on\":", t.state.as_str());
        match t.waiting_on {
            Some(w) => {
                let _ = write!(out, "\"{}\"", w.as_str());
            }
            None => out.push_str("null"),
        }
        match t.fd {
            Some(fd) => {
                let _ = write!(out, ",\"fd\":{fd}");
            }
            None => out.push_str(",\"fd\":null"),
        }
        match t.since {
            Some(d) => {
                let _ = write!(out, ",\"since_ms\":{:.3}}}", d.as_secs_f64() * 1000.0);
            }
            None => out.push_str(",\"since_ms\":null}"),
        }
    }
    out.push_str("],\"silent\":[");
    for (i, s) in silent.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        json_str(&mut out, s);
    }
    out.push_str("]}");
    out
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

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> GreenThread {
        GreenThread {
            worker: "w0".into(),
            id: 3,
            label: Some("GET /a\"b\u{1b}[31m".into()),
            state: ThreadState::Parked,
            waiting_on: Some(WaitReason::Read),
            fd: Some(9),
            since: Some(Duration::from_millis(120)),
        }
    }

    #[test]
    fn text_names_state_reason_fd_and_age_and_escapes_labels() {
        let text = render_text(&[sample()], &["w1".into()]);
        assert!(text.contains("#3 'GET /a\"b\\x1b[31m': parked on read (fd 9) for 120 ms"), "{text}");
        assert!(text.contains("w1: did not answer"), "{text}");
        assert!(!text.contains('\u{1b}'));
    }

    #[test]
    fn json_is_well_formed_and_escaped() {
        let json = render_json(&[sample()], &[]);
        assert_eq!(
            json,
            "{\"threads\":[{\"worker\":\"w0\",\"id\":3,\"label\":\"GET /a\\\"b\\u001b[31m\",\"state\":\"parked\",\
             \"waiting_on\":\"read\",\"fd\":9,\"since_ms\":120.000}],\"silent\":[]}"
        );
    }
}
