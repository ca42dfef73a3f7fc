//! Custom middleware with per-request state, next to the built-in AccessLog.
//!
//! Scenario: a Django logging middleware (`ApiLoggerMiddleware`) kept the current
//! request's start time and id in fields of the middleware object: one object
//! served every request, so concurrent requests overwrote each other's values
//! (and a synchronous middleware serialised the async views besides). Here a
//! middleware is shared by every green thread and every worker (`Send +
//! Sync`), so per-request data goes in the *request's extensions*, never in
//! the middleware's fields. [`RequestContext`] carries a request id and a
//! start time; the handler reads it; the middleware adds `X-Request-Id` and
//! `X-Elapsed-Ms` to the response. Requests overlap (each handler sleeps),
//! yet every one keeps its own id.
//!
//! Run: `cargo run --example middleware`, then
//! `curl -i 'http://127.0.0.1:8080/work?ms=300'` (try several at once); the
//! access log lines appear on stderr.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use greenloop::http::middleware::AccessLog;
use greenloop::http::{
    App, HeaderValue, IntoResponse, Middleware, Next, Request, RequestExt, Response, Router, Server, StatusCode, get,
};

/// Per-request state, stored in the request's extensions by [`RequestIds`].
#[derive(Clone, Copy, Debug)]
struct RequestContext {
    id: u64,
    started: Instant,
}

/// Gives every request a [`RequestContext`] and reports it on the response.
///
/// Its only field is a process-wide counter, which is shared on purpose.
/// Wrong: `current: Mutex<Option<RequestContext>>` as a field, set on the way
/// in and read on the way out: by then another request has replaced it.
#[derive(Default)]
struct RequestIds {
    next_id: AtomicU64,
}

impl Middleware for RequestIds {
    fn call(&self, mut req: Request, next: Next<'_>) -> Response {
        let ctx = RequestContext { id: self.next_id.fetch_add(1, Ordering::Relaxed) + 1, started: Instant::now() };
        req.extensions_mut().insert(ctx);
        let mut res = next.run(req); // parks while the handler waits; others run meanwhile
        let elapsed_ms = ctx.started.elapsed().as_secs_f64() * 1000.0;
        let headers = res.headers_mut();
        headers.insert("x-request-id", HeaderValue::from(ctx.id));
        if let Ok(v) = HeaderValue::try_from(format!("{elapsed_ms:.1}")) {
            headers.insert("x-elapsed-ms", v);
        }
        res
    }
}

/// Sleeps `ms` (default 100), then names the request it is serving.
fn work(req: Request) -> Response {
    let ms = match req.query("ms").map(|v| v.parse::<u64>()) {
        None => 100,
        Some(Ok(ms)) if ms <= 10_000 => ms,
        _ => return (StatusCode::BAD_REQUEST, "ms must be a whole number up to 10000\n").into_response(),
    };
    let Some(ctx) = req.extensions().get::<RequestContext>().copied() else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "RequestIds middleware missing\n").into_response();
    };
    greenloop::sleep(Duration::from_millis(ms));
    format!("request {} slept {ms} ms; still request {} after waking\n", ctx.id, ctx.id).into_response()
}

/// A minimal `log` backend for the access log. AccessLog formats its line on
/// the worker and hands it to its own background thread, which calls this,
/// so this write to stderr never blocks the loop.
struct Stderr;

impl log::Log for Stderr {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.level() <= log::Level::Info
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            eprintln!("{}", record.args());
        }
    }

    fn flush(&self) {}
}

fn main() -> std::io::Result<()> {
    static LOGGER: Stderr = Stderr;
    if log::set_logger(&LOGGER).is_ok() {
        log::set_max_level(log::LevelFilter::Info);
    }
    let app = App::new(Router::new().route("/work", get(work)))
        .wrap(AccessLog::new()) // outermost: logs the final status and total time
        .wrap(RequestIds::default());
    println!("middleware on http://127.0.0.1:8080: curl -i 'http://127.0.0.1:8080/work?ms=300'");
    Server::bind("127.0.0.1:8080").serve(app)
}
