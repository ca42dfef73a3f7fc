//! One shared client per worker, with startup and shutdown hooks.
//!
//! Scenario: an ASGI app needs one HTTP client session (a connection pool)
//! created *inside* the running event loop and closed at shutdown, and has
//! to hand-roll lifespan events to get it. Here `Server::with_worker_state`
//! builds the pool on each worker's loop before it accepts connections,
//! every handler on that worker reaches it with `worker_state::<T>()`, and
//! it is dropped on that loop after the worker drained and its stop hooks
//! ran. Press Ctrl-C to watch the graceful shutdown: requests in flight
//! finish, then each worker logs its stop hook and closes its pool.
//!
//! Run: `cargo run --example shared_client`, then
//! `curl http://127.0.0.1:8080/` a few times (the pool's idle connections
//! are reused), and Ctrl-C.
//!
//! The hooks write with `eprintln!`, which blocks the OS thread for the
//! moment a short line takes; fine for a few lines at start and stop. The
//! `greenloop` binary shows a logger that never blocks the loop.

use std::time::Duration;

use greenloop::http::{Client, Request, Router, Server, get, worker_id, worker_state};

const BASE: &str = "http://127.0.0.1:8080";

/// This worker's pool. Dropping it closes its idle connections.
struct UpstreamPool {
    client: Client,
}

impl Drop for UpstreamPool {
    fn drop(&mut self) {
        eprintln!(
            "worker {}: pool closed ({} idle connections)",
            worker_id().unwrap_or(0),
            self.client.idle_connections()
        );
    }
}

fn upstream(_req: Request) -> &'static str {
    greenloop::sleep(Duration::from_millis(100));
    "hello from upstream"
}

fn home(_req: Request) -> std::io::Result<String> {
    let pool = worker_state::<UpstreamPool>().expect("registered in main");
    let text = pool.client.get(format!("{BASE}/upstream")).send()?.text(64 * 1024)?;
    Ok(format!(
        "worker {} says: {text} (this worker's pool now keeps {} idle connections)\n",
        worker_id().unwrap_or(0),
        pool.client.idle_connections()
    ))
}

fn main() -> std::io::Result<()> {
    let router = Router::new().route("/", get(home)).route("/upstream", get(upstream));
    println!("shared client on {BASE}: curl {BASE}/  (Ctrl-C to stop gracefully)");
    Server::bind("127.0.0.1:8080")
        .workers(2)
        .with_worker_state(|| {
            // Runs on the worker's own loop, so it could do green I/O (a
            // warm-up request, an auth handshake) before serving.
            eprintln!("worker {}: pool created", worker_id().unwrap_or(0));
            UpstreamPool { client: Client::builder().max_idle_per_host(16).build() }
        })
        .on_worker_start(|| eprintln!("worker {}: start hook: accepting connections", worker_id().unwrap_or(0)))
        .on_worker_stop(|| eprintln!("worker {}: stop hook: drained, closing the pool", worker_id().unwrap_or(0)))
        .grace_period(Duration::from_secs(5))
        .serve(router) // stops gracefully on Ctrl-C (SIGINT) or SIGTERM
}
