//! A green-thread dump ([`inspect::threads`](crate::inspect::threads))
//! rendered for people and for pages: the text and JSON that
//! [`debug::threads`](super::debug::threads) answers with. Only public
//! facts of each [`GreenThread`] are used.

use std::fmt::{self, Write as _};
use std::time::Duration;

use crate::inspect::{GreenThread, json_string};
use crate::watchdog::escape;

/// The dump as text, one green thread per line grouped by loop, the way Go
/// prints goroutines: `greenloop-worker-0 #12 'GET /sleep?ms=500 (request 3)': parked on timer for 120 ms`.
pub(crate) fn render_text(threads: &[GreenThread], silent: &[String]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{} green threads", threads.len());
    let mut last: Option<&str> = None;
    for t in threads {
        // A dump of many threads is written in slices between which the
        // loop runs the others (nothing outside a green thread).
        crate::consume_budget();
        if last != Some(t.worker.as_str()) {
            let _ = writeln!(out, "\n{}:", escape(&t.worker));
            last = Some(&t.worker);
        }
        let _ = writeln!(out, "  {}", Line(t));
    }
    for s in silent {
        let _ = writeln!(out, "\n{}: did not answer (a green thread holds its loop)", escape(s));
    }
    out
}

struct Line<'a>(&'a GreenThread);

impl fmt::Display for Line<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let t = self.0;
        write!(f, "#{}", t.id)?;
        if let Some(l) = &t.label {
            write!(f, " '{}'", escape(l))?;
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
pub(crate) fn render_json(threads: &[GreenThread], silent: &[String]) -> String {
    let mut out = String::from("{\"threads\":[");
    for (i, t) in threads.iter().enumerate() {
        crate::consume_budget();
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"worker\":");
        json_string(&mut out, &t.worker);
        let _ = write!(out, ",\"id\":{},\"label\":", t.id);
        match &t.label {
            Some(l) => json_string(&mut out, l),
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
        json_string(&mut out, s);
    }
    out.push_str("]}");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inspect::{ThreadState, WaitReason};

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
