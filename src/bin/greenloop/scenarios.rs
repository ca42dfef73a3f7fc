//! Routes under `/api/` that reproduce a Django async app served one request
//! at a time because of one synchronous middleware, done right.
//!
//! - `/api/?task_id=N`: a view that waits one second (a green sleep) and
//!   answers JSON; ten at once take one second, which a Django + uvicorn app
//!   with one synchronous middleware could not do.
//! - `/api/async_sleep/`: the same wait, without the parameter.
//! - `/api/aggregated/?num=N`: N calls to `<upstream>/api/?task_id=i` at once
//!   (`join_all`) through this worker's pooled client: about one second.
//! - `/api/aggregated_sync/?num=N`: the same calls one after another: N seconds.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crate::admission::{Admission, FAN_OUT_SLOTS, FAN_OUT_WAIT};
use greenloop::http::client::default_client;
use greenloop::http::{Client, Request, RequestExt, Response, ResponseBody, Router, Server, StatusCode, get, header};
use serde_json::{Value, json};

/// How long the `/api/` views wait.
const VIEW_WAIT: Duration = Duration::from_secs(1);
/// Most upstream calls one aggregated request may make.
pub const MAX_FAN_OUT: usize = 100;
/// Calls made when `num` is absent.
const DEFAULT_FAN_OUT: usize = 10;
/// Longest `task_id` echoed back.
const MAX_TASK_ID: usize = 64;
/// Largest upstream response body read.
const UPSTREAM_BODY_LIMIT: usize = 64 * 1024;
/// Longest one upstream call may take.
const UPSTREAM_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the aggregated routes send their calls: a base URL such as
/// `http://127.0.0.1:8000`, or `None` when there is none (a Unix-socket
/// server without `--upstream`). Set once, before the server announces
/// itself; shared by every worker.
#[derive(Clone, Default)]
pub struct Upstream(Arc<OnceLock<Option<String>>>);

impl Upstream {
    /// Sets the base URL (the first call wins).
    pub fn set(&self, base: Option<String>) {
        let _ = self.0.set(base);
    }

    /// The base URL, or why there is none (answered with 503).
    fn base(&self) -> Result<&str, &'static str> {
        match self.0.get() {
            Some(Some(base)) => Ok(base),
            Some(None) => Err("no upstream: this server listens on a Unix socket, so it cannot call itself; \
                 start it with --upstream http://HOST:PORT"),
            None => Err("the upstream is not configured yet"),
        }
    }
}

/// Adds the `/api/` routes to `router`.
pub fn routes(router: Router, upstream: Upstream) -> Router {
    let sync_upstream = upstream.clone();
    router
        .route("/api/", get(task))
        .route("/api/async_sleep/", get(async_sleep))
        .route("/api/aggregated/", get(move |req: Request| aggregated(&upstream, &req, Fetch::Concurrent)))
        .route("/api/aggregated_sync/", get(move |req: Request| aggregated(&sync_upstream, &req, Fetch::Serial)))
}

/// Gives every worker its own pooled upstream client, created on the
/// worker's loop at start and closed after it drained at shutdown: one
/// client session per event loop, with no lifespan plumbing.
/// `ca`: PEM CA certificates trusted for `https://` upstreams besides the built-in roots.
pub fn with_client_pool(server: Server, ca: Option<Vec<u8>>) -> Server {
    server
        .with_worker_state(move || {
            log::info!("worker {}: upstream client pool created", worker());
            let builder = Client::builder().max_idle_per_host(MAX_FAN_OUT).timeout(UPSTREAM_TIMEOUT);
            #[cfg(feature = "tls")]
            let builder = match &ca {
                // Checked at start-up (`main`): it parses.
                Some(pem) => builder.add_root_certificate(pem).expect("the upstream CA was checked at start-up"),
                None => builder,
            };
            #[cfg(not(feature = "tls"))]
            let _ = &ca;
            builder.build()
        })
        .on_worker_stop(|| {
            // The pool itself is dropped right after the stop hooks, closing
            // its idle connections.
            let idle = greenloop::http::worker_state::<Client>().map_or(0, |c| c.idle_connections());
            log::info!("worker {}: closing the upstream client pool ({idle} idle connections)", worker());
        })
}

fn worker() -> usize {
    greenloop::http::worker_id().unwrap_or(0)
}

/// `GET /api/?task_id=N`: waits one second, then echoes `task_id`.
fn task(req: Request) -> Response {
    let task_id = match req.query("task_id") {
        None => return error(StatusCode::BAD_REQUEST, "missing ?task_id=N".into()),
        Some(t) if t.is_empty() => return error(StatusCode::BAD_REQUEST, "task_id is empty".into()),
        Some(t) if t.len() > MAX_TASK_ID => {
            return error(StatusCode::BAD_REQUEST, format!("task_id is longer than {MAX_TASK_ID} bytes"));
        }
        Some(t) => t,
    };
    greenloop::sleep(VIEW_WAIT);
    json_response(StatusCode::OK, &json!({ "message": "Hello World", "task_id": task_id }))
}

/// `GET /api/async_sleep/`: waits one second.
fn async_sleep(_req: Request) -> Response {
    greenloop::sleep(VIEW_WAIT);
    json_response(StatusCode::OK, &json!({ "mode": "green", "time": VIEW_WAIT.as_secs() }))
}

/// How the aggregated routes make their calls.
#[derive(Clone, Copy)]
enum Fetch {
    /// All at once, each on its own green thread (`join_all`).
    Concurrent,
    /// One after another on the handler's green thread.
    Serial,
}

/// `GET /api/aggregated[_sync]/?num=N`: N upstream calls, their JSON in order.
fn aggregated(upstream: &Upstream, req: &Request, how: Fetch) -> Response {
    let num = match fan_out(req) {
        Ok(n) => n,
        Err(reason) => return error(StatusCode::BAD_REQUEST, reason),
    };
    let base = match upstream.base() {
        Ok(b) => b,
        Err(reason) => return error(StatusCode::SERVICE_UNAVAILABLE, reason.into()),
    };
    // A bounded number of fan-outs per worker, so a burst of them queues
    // instead of opening thousands of sockets.
    let admission = greenloop::http::worker_state::<Admission>();
    let _turn = match admission.as_deref().map(Admission::fan_out) {
        Some(None) => {
            let reason =
                format!("{FAN_OUT_SLOTS} fan-outs are running on this worker and none ended within {FAN_OUT_WAIT:?}");
            return error(StatusCode::SERVICE_UNAVAILABLE, reason);
        }
        Some(turn) => turn,
        None => None,
    };
    let client = greenloop::http::worker_state::<Client>().map_or_else(default_client, |c| Client::clone(&c));
    let urls: Vec<String> = (0..num).map(|i| format!("{base}/api/?task_id={i}")).collect();
    let start = Instant::now();
    let results: Vec<Result<Value, String>> = match how {
        Fetch::Concurrent => greenloop::join_all(urls.into_iter().map(|url| {
            let client = client.clone();
            move || fetch(&client, &url)
        })),
        Fetch::Serial => urls.iter().map(|url| fetch(&client, url)).collect(),
    };
    let secs = start.elapsed().as_secs_f64();
    let failed = results.iter().filter(|r| r.is_err()).count();
    let responses = match results.into_iter().collect::<Result<Vec<Value>, String>>() {
        Ok(r) => r,
        Err(first) => {
            let reason = format!("{failed} of {num} upstream calls failed; the first: {first}");
            return error(StatusCode::BAD_GATEWAY, reason);
        }
    };
    let message = match how {
        Fetch::Concurrent => format!("{num} calls to {base}/api/ made at once (join_all on green threads)"),
        Fetch::Serial => format!("{num} calls to {base}/api/ made one after another"),
    };
    json_response(
        StatusCode::OK,
        &json!({
            "message": message,
            "responses": responses,
            "debug_message": format!("fetch executed in {secs:.2} seconds."),
        }),
    )
}

/// The `num` query parameter (default 10), or what is wrong with it.
fn fan_out(req: &Request) -> Result<usize, String> {
    match req.query("num") {
        None => Ok(DEFAULT_FAN_OUT),
        Some(v) => match v.trim().parse::<usize>() {
            Ok(n) if (1..=MAX_FAN_OUT).contains(&n) => Ok(n),
            Ok(n) => Err(format!("num must be between 1 and {MAX_FAN_OUT} (got {n})")),
            Err(_) => Err(format!("num must be a whole number between 1 and {MAX_FAN_OUT} (got {v:?})")),
        },
    }
}

/// One upstream call: its JSON body, or why there is none.
fn fetch(client: &Client, url: &str) -> Result<Value, String> {
    let res = client.get(url).send().map_err(|e| e.to_string())?;
    let status = res.status();
    if !status.is_success() {
        let body = res.text(1024).unwrap_or_default();
        return Err(format!("GET {url} answered {status}: {}", body.trim()));
    }
    res.json(UPSTREAM_BODY_LIMIT).map_err(|e| e.to_string())
}

/// `{"error": reason}` with `status`.
fn error(status: StatusCode, reason: String) -> Response {
    json_response(status, &json!({ "error": reason }))
}

fn json_response(status: StatusCode, value: &Value) -> Response {
    let mut body = value.to_string();
    body.push('\n');
    let mut r = Response::new(ResponseBody::from(body));
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/json"));
    r
}
