//! Handlers that show what the server is doing right now: every green
//! thread ([`threads`]), and the figures a live status page draws
//! ([`status_json`]). Mount them where you like (the demo binary uses
//! `GET /debug/threads` and `GET /status.json`); they reveal request
//! targets, so keep them off a public listener.

use std::fmt::Write;
use std::time::{Duration, UNIX_EPOCH};

use http::{HeaderValue, header};

use super::conn::counters::LATENCY_BUCKETS;
use super::conn::serving;
use super::thread_dump;
use super::{Request, RequestExt, Response, ResponseBody};
use crate::inspect;

fn answer(body: String, content_type: &'static str) -> Response {
    let mut r = Response::new(ResponseBody::from(body));
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// Every green thread of every loop in the process
/// ([`inspect::threads_timeout`]): plain text by default, one line per
/// green thread as Go prints goroutines; JSON with `?format=json`. Safe
/// under load: each loop lists its own green threads on its own thread.
///
/// Bounded for the loop: the dump is listed and written in slices between
/// which the loop runs everyone else (a dump of 10,000 green threads does
/// not stall the worker's other requests), and a worker makes one dump at a
/// time: requests that arrive while one is being made wait for it and are
/// answered with it, rather than each making their own.
pub fn threads(req: Request) -> Response {
    let json = req.query("format").as_deref() == Some("json");
    let asked = std::time::Instant::now();
    let gate = DUMPS.with(|d| d.clone());
    let mut last = gate.lock();
    let body = match &*last {
        // Finished after this request came: as fresh as one of its own.
        Some(d) if d.json == json && d.finished >= asked => d.body.clone(),
        _ => {
            let (list, silent) = inspect::threads_timeout(Duration::from_secs(1));
            let body: std::rc::Rc<str> = if json {
                thread_dump::render_json(&list, &silent).into()
            } else {
                thread_dump::render_text(&list, &silent).into()
            };
            *last = Some(Dump { json, finished: std::time::Instant::now(), body: body.clone() });
            body
        }
    };
    drop(last);
    let content_type = if json { "application/json" } else { "text/plain; charset=utf-8" };
    answer(body.to_string(), content_type)
}

/// The last thread dump this worker made, for the requests that waited for it.
struct Dump {
    json: bool,
    finished: std::time::Instant,
    body: std::rc::Rc<str>,
}

thread_local! {
    /// One dump at a time per worker (a green lock: waiting parks).
    static DUMPS: std::rc::Rc<crate::sync::Mutex<Option<Dump>>> = std::rc::Rc::new(crate::sync::Mutex::new(None));
}

/// The server's figures as one JSON object, for a page that polls it: the
/// counters of [`metrics::render`](super::metrics::render) (summed over
/// workers, freshly published by each), the loops' idle time (busy share =
/// 1 - growth of `idle_seconds` / (elapsed × `workers`)), the offload
/// pool, and the recent blocking incidents with their stacks. Rates and
/// percentiles are the reader's to compute from two snapshots.
pub fn status_json(_req: Request) -> Response {
    answer(status_snapshot(), "application/json")
}

/// The JSON [`status_json`] answers with (`{}` outside a server).
pub fn status_snapshot() -> String {
    snapshot(true)
}

/// Most incidents [`status_summary`] lists (the most recent first).
pub const SUMMARY_INCIDENTS: usize = 10;

/// Longest task label [`status_summary`] shows, in bytes (longer ones are cut).
pub const SUMMARY_LABEL_BYTES: usize = 160;

/// [`status_snapshot`] bounded for streaming to many clients every second
/// (the demo's `/events`): the same figures, the [`SUMMARY_INCIDENTS`] most
/// recent incidents with their labels cut to [`SUMMARY_LABEL_BYTES`], and
/// no stacks (`stack` and `frames` are `null`; [`status_json`] has them).
/// Under 4 KiB whatever the incidents: a full snapshot with 32 captured
/// stacks is 100-200 KiB.
pub fn status_summary() -> String {
    snapshot(false)
}

fn snapshot(full: bool) -> String {
    let Some(m) = serving::server_metrics() else { return "{}".into() };
    m.refresh();
    let now = std::time::SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let mut o = String::with_capacity(2048);
    let _ = write!(o, "{{\"time_ms\":{}", now.as_millis());
    let _ = write!(o, ",\"workers\":{}", m.sum(|_| 1));
    let requests: Vec<u64> = (0..5).map(|i| m.sum(|w| w.requests[i].get())).collect();
    let _ = write!(o, ",\"requests_total\":{}", requests.iter().sum::<u64>());
    let _ = write!(o, ",\"requests_by_class\":{requests:?}");
    let _ = write!(o, ",\"latency_bounds_s\":{LATENCY_BUCKETS:?}");
    let buckets: Vec<u64> = (0..=LATENCY_BUCKETS.len()).map(|i| m.sum(|w| w.latency[i].get())).collect();
    let _ = write!(o, ",\"latency_counts\":{buckets:?}");
    let _ = write!(o, ",\"latency_sum_s\":{:.6}", m.sum(|w| w.latency_sum_ns.get()) as f64 / 1e9);
    let _ = write!(o, ",\"connections_open\":{}", m.sum(|w| w.connections_open.get()));
    let _ = write!(o, ",\"in_flight\":{}", m.sum(|w| w.in_flight.get()));
    let _ = write!(o, ",\"green_threads\":{}", m.sum(|w| w.green_threads.get()));
    let _ = write!(o, ",\"run_queue\":{}", m.sum(|w| w.run_queue.get()));
    let _ = write!(o, ",\"switches\":{}", m.sum(|w| w.switches.get()));
    let _ = write!(o, ",\"idle_seconds\":{:.6}", m.sum(|w| w.idle_ns.get()) as f64 / 1e9);
    let offload = inspect::offload_stats();
    let _ = write!(
        o,
        ",\"offload\":{{\"threads\":{},\"busy\":{},\"queued\":{}}}",
        offload.threads, offload.busy, offload.queued
    );
    let _ = write!(o, ",\"blocking_incidents\":{}", m.sum(|w| w.blocking_incidents.get()));
    let _ = write!(o, ",\"blocked_seconds\":{:.6}", m.sum(|w| w.blocked_ns.get()) as f64 / 1e9);
    o.push_str(",\"incidents\":[");
    let incidents = crate::watchdog::recent_incidents();
    let shown = if full { incidents.len() } else { SUMMARY_INCIDENTS };
    for (i, inc) in incidents.iter().rev().take(shown).enumerate() {
        if i > 0 {
            o.push(',');
        }
        let at = inc.at.duration_since(UNIX_EPOCH).unwrap_or_default().as_millis();
        let _ = write!(o, "{{\"seq\":{},\"at_ms\":{at},\"thread\":", inc.seq);
        inspect::json_string(&mut o, cut(&inc.thread, full));
        o.push_str(",\"task\":");
        inspect::json_string(&mut o, cut(&inc.task, full));
        match inc.held {
            Some(d) => {
                let _ = write!(o, ",\"held_ms\":{:.1}", d.as_secs_f64() * 1000.0);
            }
            None => o.push_str(",\"held_ms\":null"),
        }
        for (key, value) in [("stack", &inc.stack), ("frames", &inc.frames)] {
            let _ = write!(o, ",\"{key}\":");
            match value {
                Some(s) if full => inspect::json_string(&mut o, s),
                _ => o.push_str("null"),
            }
        }
        o.push('}');
    }
    o.push_str("]}");
    o
}

/// `s`, or in a summary its first [`SUMMARY_LABEL_BYTES`] (on a character boundary).
fn cut(s: &str, full: bool) -> &str {
    if full || s.len() <= SUMMARY_LABEL_BYTES {
        return s;
    }
    let mut end = SUMMARY_LABEL_BYTES;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}
