//! A `tracing` span around every request (feature `tracing`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use http::HeaderName;
use tracing::field::Empty;

use crate::http::{Middleware, Next, Request, RequestExt, Response};

const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Runs the rest of the chain inside an `info`-level span named `request`
/// with the fields `method`, `path` and `request_id`, and records `status`
/// and `latency_ms` (time to the response head) on it when the response is
/// ready; it also emits one `info` event, "request finished", inside it.
///
/// Why it is enough to enter the span: greenloop moves a green thread's
/// entered spans with it across parks (see [`crate::trace`]), so every
/// event the handler and the libraries it calls emit, however many times it
/// parks, lands in its own request's span, even with thousands of requests
/// interleaved on one OS thread.
///
/// `request_id` is the request's `X-Request-Id` header when it has a short
/// printable one (a proxy's, or tower-http's `SetRequestIdLayer`'s),
/// otherwise `WORKER-N` from the server's own request number (what
/// [`RequestExt::request_id`](crate::http::RequestExt::request_id) and the
/// watchdog's labels show), or a number counted by this middleware for a
/// request that did not come from a server.
///
/// ```
/// use greenloop::http::middleware::Trace;
/// use greenloop::http::{App, Request};
///
/// let app = App::new(|_req: Request| {
///     tracing::info!("inside the request span");
///     "hi"
/// })
/// .wrap(Trace::new());
/// # drop(app);
/// ```
#[derive(Debug, Default)]
pub struct Trace {
    next_id: AtomicU64,
}

impl Trace {
    /// The request span middleware.
    pub fn new() -> Trace {
        Trace { next_id: AtomicU64::new(1) }
    }

    fn request_id(&self, req: &Request) -> String {
        let given = req.headers().get(X_REQUEST_ID).and_then(|v| v.to_str().ok());
        match given {
            Some(id) if !id.is_empty() && id.len() <= 128 => id.to_owned(),
            _ => match req.conn_info() {
                Some(c) => format!("{}-{}", c.worker, c.request_id),
                None => self.next_id.fetch_add(1, Ordering::Relaxed).to_string(),
            },
        }
    }
}

impl Middleware for Trace {
    fn call(&self, req: Request, next: Next<'_>) -> Response {
        let start = Instant::now();
        let span = tracing::info_span!(
            "request",
            method = %req.method(),
            path = %req.path(),
            request_id = %self.request_id(&req),
            status = Empty,
            latency_ms = Empty,
        );
        let _entered = span.enter();
        let res = next.run(req);
        let latency_ms = start.elapsed().as_secs_f64() * 1000.0;
        let status = res.status().as_u16();
        span.record("status", status);
        span.record("latency_ms", latency_ms);
        tracing::info!(status, latency_ms, "request finished");
        res
    }
}
