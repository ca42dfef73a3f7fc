//! Server and loop metrics in the Prometheus text format.
//!
//! Every worker keeps its counters in its own atomics, written only by its
//! own thread (no lock, no shared cache line, no locked instruction on the
//! request path: a few plain loads and stores per request);
//! loop gauges are published by each worker when asked: [`render`] asks
//! every worker of the server the caller runs in, then sums them (an idle
//! server publishes nothing, so it sleeps). Mount [`handler`] at
//! a path of your choosing (the demo binary uses `GET /metrics`).

use std::fmt::Write;

use http::{HeaderValue, header};

pub use super::conn::counters::LATENCY_BUCKETS;
use super::conn::counters::{Counter, WorkerMetrics};
use super::conn::serving;
use super::{Request, Response, ResponseBody};

/// A per-worker counter summed over workers: name, type, help, field.
type Sum = (&'static str, &'static str, &'static str, fn(&WorkerMetrics) -> &Counter);

const LOOP_SUMS: [Sum; 5] = [
    ("greenloop_green_threads", "gauge", "Green threads alive.", |w| &w.green_threads),
    ("greenloop_run_queue_length", "gauge", "Green threads ready to run.", |w| &w.run_queue),
    ("greenloop_loop_iterations_total", "counter", "Event-loop iterations.", |w| &w.iterations),
    ("greenloop_loop_switches_total", "counter", "Switches into green threads.", |w| &w.switches),
    (
        "greenloop_loop_blocking_incidents_total",
        "counter",
        "Times a green thread held its loop past the watchdog threshold.",
        |w| &w.blocking_incidents,
    ),
];

const HTTP_SUMS: [Sum; 3] = [
    ("greenloop_http_connections_open", "gauge", "Open HTTP connections.", |w| &w.connections_open),
    (
        "greenloop_http_connections_refused_total",
        "counter",
        "Connections answered 503 because every slot was in use with none idle.",
        |w| &w.connections_refused,
    ),
    ("greenloop_http_requests_in_flight", "gauge", "Requests being handled now.", |w| &w.in_flight),
];

/// The metrics of the server the caller runs in, summed over its workers,
/// in the Prometheus text exposition format. Empty outside a server.
pub fn render() -> String {
    let Some(m) = serving::server_metrics() else { return String::new() };
    m.refresh();
    let mut out = String::with_capacity(4096);
    let mut metric = |name: &str, kind: &str, help: &str, value: String| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}");
    };
    metric("greenloop_workers", "gauge", "Worker loops serving.", m.sum(|_| 1).to_string());
    for (name, kind, help, field) in LOOP_SUMS {
        metric(name, kind, help, m.sum(|w| field(w).get()).to_string());
    }
    metric(
        "greenloop_loop_blocked_seconds_total",
        "counter",
        "Time loops were held by blocking green threads (finished incidents).",
        seconds(m.sum(|w| w.blocked_ns.get())),
    );
    let offload = crate::inspect::offload_stats();
    let offload_rows: [(&str, &str, &str, u64); 6] = [
        ("greenloop_offload_threads", "gauge", "Offload pool threads alive.", offload.threads as u64),
        ("greenloop_offload_busy_threads", "gauge", "Offload threads running a job.", offload.busy as u64),
        ("greenloop_offload_queue_depth", "gauge", "Offloaded jobs waiting for a thread.", offload.queued as u64),
        (
            "greenloop_offload_queue_capacity",
            "gauge",
            "Most offloaded jobs that may wait for a thread; offload parks its caller beyond.",
            offload.capacity as u64,
        ),
        (
            "greenloop_offload_waiting",
            "gauge",
            "Green threads parked in offload for room in its full queue.",
            offload.waiting as u64,
        ),
        (
            "greenloop_offload_waits_total",
            "counter",
            "Times an offload found the queue full and waited.",
            offload.waits,
        ),
    ];
    for (name, kind, help, value) in offload_rows {
        metric(name, kind, help, value.to_string());
    }
    for (name, kind, help, field) in HTTP_SUMS {
        metric(name, kind, help, m.sum(|w| field(w).get()).to_string());
    }
    let _ = writeln!(
        out,
        "# HELP greenloop_http_requests_total HTTP requests answered, by status class.\n\
         # TYPE greenloop_http_requests_total counter"
    );
    for (i, class) in ["1xx", "2xx", "3xx", "4xx", "5xx"].iter().enumerate() {
        let n = m.sum(|w| w.requests[i].get());
        let _ = writeln!(out, "greenloop_http_requests_total{{class=\"{class}\"}} {n}");
    }
    let _ = writeln!(
        out,
        "# HELP greenloop_http_request_duration_seconds Time from request head to response ready.\n\
         # TYPE greenloop_http_request_duration_seconds histogram"
    );
    let mut cumulative = 0;
    for (i, le) in LATENCY_BUCKETS.iter().enumerate() {
        cumulative += m.sum(|w| w.latency[i].get());
        let _ = writeln!(out, "greenloop_http_request_duration_seconds_bucket{{le=\"{le}\"}} {cumulative}");
    }
    cumulative += m.sum(|w| w.latency[LATENCY_BUCKETS.len()].get());
    let _ = writeln!(out, "greenloop_http_request_duration_seconds_bucket{{le=\"+Inf\"}} {cumulative}");
    let _ = writeln!(out, "greenloop_http_request_duration_seconds_sum {}", seconds(m.sum(|w| w.latency_sum_ns.get())));
    let _ = writeln!(out, "greenloop_http_request_duration_seconds_count {cumulative}");
    let _ = writeln!(
        out,
        "# HELP greenloop_log_lines_dropped_total Log lines dropped because their writer could not keep up, by sink.\n\
         # TYPE greenloop_log_lines_dropped_total counter"
    );
    for (sink, n) in super::log_sink::dropped_by_sink() {
        let sink = sink.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n");
        let _ = writeln!(out, "greenloop_log_lines_dropped_total{{sink=\"{sink}\"}} {n}");
    }
    // Connection pools (greenloop::pool): in use, idle, waiting, per pool name.
    crate::pool::write_metrics(&mut out);
    out
}

fn seconds(ns: u64) -> String {
    format!("{:.6}", ns as f64 / 1e9)
}

/// A handler answering with [`render`]'s text (`text/plain; version=0.0.4`).
pub fn handler(_req: Request) -> Response {
    let mut r = Response::new(ResponseBody::from(render()));
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"));
    r
}
