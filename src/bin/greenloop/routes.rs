//! The demo's routes: each shows one thing greenloop does.

use std::time::Duration;

use crate::admission::{
    Admission, ECHO_SLOTS, ECHO_SMALL_BYTES, ECHO_WAIT, MAX_BLOCK_MS, MAX_OFFLOAD_MS, OFFLOAD_SLOTS,
};
use crate::scenarios::{self, Upstream};
use greenloop::http::{
    IntoResponse, Request, RequestExt, Response, ResponseBody, Router, StatusCode, get, header, post,
};

/// Longest `/sleep` the demo accepts.
const MAX_SLEEP_MS: u64 = 60_000;

/// Every demo route; the `/api/` ones call `upstream`. `max_body` is the
/// server's body limit, the most `/echo` holds.
pub fn router(upstream: Upstream, max_body: u64) -> Router {
    let router = Router::new()
        .route("/", get(index))
        .route("/plaintext", get(plaintext))
        .route("/json", get(json))
        .route("/echo", post(move |req: Request| echo(req, max_body)))
        .route("/echo/stream", post(echo_stream))
        .route("/sleep", get(sleep))
        .route("/offload", get(offload))
        .route("/block", get(block))
        .route("/metrics", get(greenloop::http::metrics::handler))
        .route("/status", get(crate::status::page))
        .route("/status.json", get(greenloop::http::debug::status_json))
        .route("/debug/threads", get(greenloop::http::debug::threads));
    #[cfg(feature = "ws")]
    let router = crate::live::routes(router);
    let router = router.route("/events", get(crate::events::events));
    let router = crate::web_api::routes(router, max_body);
    crate::databases::routes(scenarios::routes(router, upstream))
}

const INDEX: &str = r#"<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>greenloop</title>
<style>body{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;line-height:1.5}code{background:#f3f3f3;padding:0 .25rem}</style>
</head>
<body>
<h1>greenloop</h1>
<p>Blocking-style Rust handlers on green threads: every request below runs on its own
green thread that parks whenever it waits, so thousands run at once on one OS thread.</p>
<ul>
<li><a href="/plaintext"><code>GET /plaintext</code></a>: <code>Hello, World!</code></li>
<li><a href="/json"><code>GET /json</code></a>: <code>{"message":"Hello, World!"}</code></li>
<li><code>POST /echo</code>: reads the whole request body (parking while it arrives), then sends it back
    (<code>curl --data-binary @file http://127.0.0.1:8000/echo</code>). Reading first is what every
    client expects: many send the whole body before they read a byte of the answer.</li>
<li><code>POST /echo/stream</code>: sends the body back <em>while</em> it arrives (full duplex, nothing held
    in memory); only for clients that read as they send, such as curl. A client that sends everything
    first (Python's <code>http.client</code>, <code>requests</code>) stalls on a large body.</li>
<li><a href="/sleep?ms=1000"><code>GET /sleep?ms=N</code></a>: a green sleep of N ms, then <code>slept</code>.
    Ten at once take one second, not ten.</li>
<li><a href="/offload?ms=200"><code>GET /offload?ms=N</code></a>: a <em>blocking</em> <code>std::thread::sleep</code>
    of N ms run through <code>greenloop::offload</code>, on a pool thread: the loop keeps serving
    (N up to 10 000; 32 at once per worker, more get 503).</li>
<li><a href="/block?ms=100"><code>GET /block?ms=N</code></a>: the same blocking sleep done directly on the loop,
    <strong>on purpose</strong>: every other request on this worker waits, and the watchdog
    logs a warning naming this request. This is the bug greenloop is built to catch
    (N up to 1000, so nobody can use it to stall the demo).</li>
<li><a href="/metrics"><code>GET /metrics</code></a>: loop and server metrics (Prometheus text).</li>
<li><a href="/status"><code>GET /status</code></a>: the server, live: requests/s, latency, connections, green threads,
    loop busy, offload queue and the recent blocking incidents with the line that blocked (from <code>/status.json</code>).</li>
<li><a href="/debug/threads"><code>GET /debug/threads</code></a>: every green thread, what it waits on and for how long
    (<code>?format=json</code> for JSON).</li>
<li><a href="/static/"><code>GET /static/{*path}</code></a>: files from <code>--static DIR</code> (a few built-in
    ones by default), sent with <code>sendfile</code>; <code>ETag</code>/<code>Last-Modified</code> give 304s,
    <code>Range</code> gives 206 (<code>curl -r 0-99</code>). Text answers of this demo are compressed (br, zstd
    or gzip, as your <code>Accept-Encoding</code> asks; <code>--no-compression</code> turns it off).</li>
</ul>
<h2>Typed JSON, uploads and CORS</h2>
<ul>
<li><code>POST /api/items</code> with <code>{"name":"milk"}</code>: 201 with <code>{"id":1,"name":"milk"}</code> and a
    <code>Location</code> (<code>curl -H 'content-type: application/json' -d '{"name":"milk"}' http://127.0.0.1:8000/api/items</code>).
    Bad JSON is a 400 naming its line and column, JSON of the wrong shape a 422, another content type a 415.</li>
<li><a href="/api/items/1"><code>GET /api/items/{id}</code></a>: the item as JSON, or 404. The store is in memory,
    shared by the workers, and keeps the latest 10 000 items.</li>
<li><code>POST /upload</code> (<code>multipart/form-data</code>): each part's name, file name, size and SHA-256, read as it
    arrives (<code>curl -F title=notes -F file=@big.iso http://127.0.0.1:8000/upload</code>).</li>
<li>Every response has an <code>X-Request-Id</code> (the request's own when it sent a sane one), also in the access log.
    <code>--cors-origin https://app.example</code> lets pages from that origin call <code>/api/*</code> with <code>fetch()</code>.</li>
</ul>
<h2>Databases</h2>
<p>With <code>--postgres URL</code> and <code>--redis URL</code> (a build with <code>--features postgres,redis</code>),
each worker keeps a pool of green connections: a request waiting on the database parks, and the worker serves
everyone else meanwhile. Without them these routes answer 503 with the reason.</p>
<ul>
<li><a href="/db/sleep?ms=1000"><code>GET /db/sleep?ms=N</code></a>: <code>SELECT pg_sleep(N/1000.0)</code> on a pooled
    Postgres connection (N up to 5000). Fifty at once on one worker take one second, not fifty.</li>
<li><a href="/db/items"><code>GET /db/items</code></a>: the rows of a small table the server creates at start, as JSON.</li>
<li><code>POST /cache/incr?key=K</code>: Redis <code>INCR greenloop:demo:K</code> (the key expires an hour after its last increment), answered with the new value
    (<code>curl -X POST 'http://127.0.0.1:8000/cache/incr?key=hits'</code>).</li>
</ul>
<p>Pool gauges (in use, idle, waiting) are on <a href="/metrics"><code>/metrics</code></a>.</p>
<h2>A Django async app that one synchronous middleware served one request at a time</h2>
<ul>
<li><a href="/api/?task_id=7"><code>GET /api/?task_id=N</code></a>: waits 1 s (green), then
    <code>{"message": "Hello World", "task_id": "N"}</code>. Django + uvicorn with one synchronous
    middleware serialises such "async" views: ten requests take ten seconds. Here they take one.</li>
<li><a href="/api/async_sleep/"><code>GET /api/async_sleep/</code></a>: the same 1 s wait,
    <code>{"mode": "green", "time": 1}</code>. Load it with
    <code>greenloop swarm http://127.0.0.1:8000/api/async_sleep/ --users 10 --duration 5</code>: ~10 req/s, not 1.</li>
<li><a href="/api/aggregated/?num=10"><code>GET /api/aggregated/?num=N</code></a>: fans out N calls to
    <code>/api/?task_id=i</code> at once (<code>join_all</code>, one pooled client per worker): about 1 s
    for N = 10, as a view that awaits ten upstream calls should take (N: 1 to 100, default 10; the upstream is <code>--upstream</code>,
    by default this server; 4 fan-outs at once per worker, others wait their turn).</li>
<li><a href="/api/aggregated_sync/?num=3"><code>GET /api/aggregated_sync/?num=N</code></a>: the same calls
    one after another: N seconds, the fan-out that takes 10 s instead of 1 s.</li>
</ul>
</body>
</html>
"#;

fn index(_req: Request) -> Response {
    let mut r = Response::new(ResponseBody::from(INDEX));
    r.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("text/html; charset=utf-8"));
    r
}

fn plaintext(_req: Request) -> &'static str {
    "Hello, World!"
}

fn json(_req: Request) -> Response {
    let mut r = Response::new(ResponseBody::from(r#"{"message":"Hello, World!"}"#));
    r.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/json"));
    r
}

/// `POST /echo`: reads the body, up to `max_body`, then answers with it.
/// The HTTP/1.1 rule for handlers: read the request body before writing a
/// large response (see `echo_stream` for the opt-in exception).
fn echo(req: Request, max_body: u64) -> Response {
    let content_type = content_type(&req);
    let small = req.body().content_length().is_some_and(|n| n <= ECHO_SMALL_BYTES);
    let admission = if small { None } else { greenloop::http::worker_state::<Admission>() };
    let _turn = match admission.as_deref().map(Admission::echo) {
        Some(None) => {
            return busy(format!(
                "{ECHO_SLOTS} large echoes are holding their bodies on this worker and none ended within {ECHO_WAIT:?}"
            ));
        }
        Some(turn) => turn,
        None => None,
    };
    let limit = usize::try_from(max_body).unwrap_or(usize::MAX);
    match req.into_body().read_to_vec(limit) {
        Ok(body) => {
            let mut r = Response::new(ResponseBody::from(body));
            r.headers_mut().insert(header::CONTENT_TYPE, content_type);
            r
        }
        // 413 past the limit, 408 for a body that stopped coming, 400 for bad framing.
        Err(e) => e.into_response(),
    }
}

/// `POST /echo/stream`: the body sent back as it arrives (full duplex).
/// Only for clients that read while they send: one that sends a large
/// body before reading fills both directions' buffers and stalls.
fn echo_stream(req: Request) -> Response {
    let content_type = content_type(&req);
    let mut r = Response::new(ResponseBody::from(req.into_body()));
    r.headers_mut().insert(header::CONTENT_TYPE, content_type);
    r
}

/// The request's content type, for an echo (binary when it has none).
fn content_type(req: &Request) -> header::HeaderValue {
    req.headers()
        .get(header::CONTENT_TYPE)
        .cloned()
        .unwrap_or(header::HeaderValue::from_static("application/octet-stream"))
}

/// The `ms` query parameter, at most `max`, or what is wrong with it.
fn millis(req: &Request, max: u64) -> Result<Duration, String> {
    match req.query("ms").as_deref().map(str::parse::<u64>) {
        None => Err("missing ?ms=N (milliseconds)\n".into()),
        Some(Err(_)) => Err("ms must be a whole number of milliseconds\n".into()),
        Some(Ok(ms)) if ms > max => Err(format!("ms must be at most {max} on this route\n")),
        Some(Ok(ms)) => Ok(Duration::from_millis(ms)),
    }
}

fn bad_request(reason: String) -> Response {
    (StatusCode::BAD_REQUEST, reason).into_response()
}

/// 503 with a reason and a hint to come back in a second.
pub fn busy(reason: String) -> Response {
    let mut r = (StatusCode::SERVICE_UNAVAILABLE, format!("{reason}; try again shortly\n")).into_response();
    r.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
    r
}

fn sleep(req: Request) -> Response {
    match millis(&req, MAX_SLEEP_MS) {
        Ok(d) => {
            greenloop::sleep(d);
            "slept".into_response()
        }
        Err(reason) => bad_request(reason),
    }
}

fn offload(req: Request) -> Response {
    match millis(&req, MAX_OFFLOAD_MS) {
        Ok(d) => {
            let admission = greenloop::http::worker_state::<Admission>();
            let _slot = match admission.as_deref().map(Admission::offload) {
                Some(None) => {
                    return busy(format!("{OFFLOAD_SLOTS} offloaded sleeps are already running on this worker"));
                }
                Some(slot) => slot,
                None => None,
            };
            greenloop::offload(move || std::thread::sleep(d));
            format!("slept {} ms on an offload thread; the loop kept serving\n", d.as_millis()).into_response()
        }
        Err(reason) => bad_request(reason),
    }
}

fn block(req: Request) -> Response {
    match millis(&req, MAX_BLOCK_MS) {
        Ok(d) => {
            // Deliberately wrong: this blocks the whole loop. The watchdog reports it.
            std::thread::sleep(d);
            format!(
                "blocked the loop for {} ms on purpose: every other request on this worker waited. \
                 The server log names this request (watchdog). Use greenloop::offload for blocking code.\n",
                d.as_millis()
            )
            .into_response()
        }
        Err(reason) => bad_request(reason),
    }
}
