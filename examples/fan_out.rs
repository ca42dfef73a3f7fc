//! Fan-out aggregation: one request calls another route N times at once.
//!
//! Scenario: an aggregating view (`/api/aggregated/`) that awaits ten upstream
//! calls of one second each and should take about one second in all, not ten. The
//! handler here makes its N calls with [`greenloop::join_all`], each on its
//! own green thread, through the worker's pooled [`Client`] (created once per
//! worker with `Server::with_worker_state`, so connections are kept alive and
//! reused between requests).
//!
//! Run: `cargo run --example fan_out`, then
//! `curl 'http://127.0.0.1:8080/aggregate?n=10'` (about 1 s) and
//! `curl 'http://127.0.0.1:8080/item/3'` (one upstream call on its own).

use std::time::{Duration, Instant};

use greenloop::http::{
    Client, IntoResponse, Request, RequestExt, Response, Router, Server, StatusCode, get, worker_state,
};

const BASE: &str = "http://127.0.0.1:8080";

/// The "upstream": takes one second per item.
fn item(req: Request) -> String {
    greenloop::sleep(Duration::from_secs(1));
    format!("item {}", req.param("id").unwrap_or("?"))
}

/// Calls `/item/{i}` for i in 0..n at once and joins the answers in order.
fn aggregate(req: Request) -> Response {
    let n = match req.query("n").map(|v| v.parse::<usize>()) {
        None => 10,
        Some(Ok(n)) if (1..=100).contains(&n) => n,
        _ => return (StatusCode::BAD_REQUEST, "n must be a whole number from 1 to 100\n").into_response(),
    };
    let client = worker_state::<Client>().expect("registered in main");
    let start = Instant::now();
    let answers = greenloop::join_all((0..n).map(|i| {
        let client = Client::clone(&client);
        move || client.get(format!("{BASE}/item/{i}")).send()?.text(64 * 1024)
    }));
    let mut out = String::new();
    for answer in answers {
        match answer {
            Ok(text) => out.push_str(&format!("{text}\n")),
            Err(e) => return (StatusCode::BAD_GATEWAY, format!("upstream call failed: {e}\n")).into_response(),
        }
    }
    out.push_str(&format!("{n} calls in {:.2} s\n", start.elapsed().as_secs_f64()));
    out.into_response()
}

fn main() -> std::io::Result<()> {
    let router = Router::new().route("/item/{id}", get(item)).route("/aggregate", get(aggregate));
    println!("fan-out on {BASE}: curl '{BASE}/aggregate?n=10'  (ten 1 s calls, about 1 s in all)");
    Server::bind("127.0.0.1:8080").with_worker_state(Client::new).serve(router)
}
