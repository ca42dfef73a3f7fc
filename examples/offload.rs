//! Blocking work through `greenloop::offload` while the loop keeps serving.
//!
//! Scenario: a view has to call code that blocks the OS thread (a C library,
//! `std::fs`, a CPU-heavy hash, a synchronous database driver). Done on the
//! loop, it would stall every request on the worker (the bug of one
//! synchronous middleware under an async server, which greenloop's watchdog
//! reports). `greenloop::offload` runs it on a thread
//! pool while the calling green thread parks, like asgiref's
//! `sync_to_async(thread_sensitive=False)`; `greenloop::offload_serial` runs
//! it on one dedicated thread, in order, for code that is not thread-safe or
//! keeps per-thread state (`thread_sensitive=True`).
//!
//! Run: `cargo run --example offload`, then, at the same time:
//! `curl 'http://127.0.0.1:8080/hash?rounds=20000000'` (CPU work off the loop),
//! `curl http://127.0.0.1:8080/ping` (answers at once meanwhile), and
//! `curl http://127.0.0.1:8080/serial` a few times (always the same thread,
//! and a counter that thread alone owns).

use std::cell::Cell;
use std::time::{Duration, Instant};

use greenloop::http::{IntoResponse, Request, RequestExt, Response, Router, Server, StatusCode, get};

/// CPU-heavy work: `rounds` steps of a 64-bit mix, done on the offload pool.
fn hash(req: Request) -> Response {
    let rounds = match req.query("rounds").map(|v| v.parse::<u64>()) {
        None => 10_000_000,
        Some(Ok(n)) if n <= 1_000_000_000 => n,
        _ => return (StatusCode::BAD_REQUEST, "rounds must be a whole number up to 1000000000\n").into_response(),
    };
    let start = Instant::now();
    let (digest, thread) = greenloop::offload(move || {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for i in 0..rounds {
            x = (x ^ i).wrapping_mul(0xbf58_476d_1ce4_e5b9).rotate_left(31);
        }
        (x, std::thread::current().name().unwrap_or("?").to_owned())
    });
    format!(
        "{rounds} rounds -> {digest:016x} in {:.2} s on thread {thread:?}; the loop kept serving\n",
        start.elapsed().as_secs_f64()
    )
    .into_response()
}

/// A blocking sleep (standing in for a synchronous driver), offloaded.
fn blocking_io(_req: Request) -> String {
    greenloop::offload(|| std::thread::sleep(Duration::from_millis(500)));
    "a 500 ms blocking call ran on the offload pool\n".into()
}

/// Thread-sensitive code: a counter only the serial offload thread touches.
fn serial(_req: Request) -> String {
    thread_local! {
        static CALLS: Cell<u64> = const { Cell::new(0) };
    }
    let (n, thread) = greenloop::offload_serial(|| {
        let n = CALLS.with(|c| {
            c.set(c.get() + 1);
            c.get()
        });
        (n, format!("{:?}", std::thread::current().id()))
    });
    format!("call {n} on the serial lane, thread {thread} (always the same one)\n")
}

fn ping(_req: Request) -> &'static str {
    "pong\n"
}

fn main() -> std::io::Result<()> {
    let router = Router::new()
        .route("/hash", get(hash))
        .route("/blocking_io", get(blocking_io))
        .route("/serial", get(serial))
        .route("/ping", get(ping));
    println!(
        "offload on http://127.0.0.1:8080: curl 'http://127.0.0.1:8080/hash?rounds=20000000' \
         while curling /ping; also /blocking_io and /serial"
    );
    Server::bind("127.0.0.1:8080").serve(router)
}
