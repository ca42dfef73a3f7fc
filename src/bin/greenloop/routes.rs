//! The demo's routes: each shows one thing greenloop does.

use std::time::Duration;

use greenloop::http::{
    IntoResponse, Request, RequestExt, Response, ResponseBody, Router, StatusCode, get, header, post,
};

/// Longest `/sleep` the demo accepts.
const MAX_SLEEP_MS: u64 = 60_000;

pub fn router() -> Router {
    Router::new()
        .route("/", get(index))
        .route("/plaintext", get(plaintext))
        .route("/json", get(json))
        .route("/echo", post(echo))
        .route("/sleep", get(sleep))
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
<li><code>POST /echo</code>: streams the request body back
    (<code>curl --data-binary @file http://127.0.0.1:8000/echo</code>)</li>
<li><a href="/sleep?ms=1000"><code>GET /sleep?ms=N</code></a>: a green sleep of N ms, then <code>slept</code>.
    Ten at once take one second, not ten.</li>
</ul>
</body>
</html>
"#;

fn index(_req: Request) -> Response {
    let mut r = Response::new(ResponseBody::from(INDEX));
    r.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("text/html; charset=utf-8"));
    r
}

fn plaintext(_req: Request) -> Response {
    let mut r = Response::new(ResponseBody::from("Hello, World!"));
    r.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("text/plain"));
    r
}

fn json(_req: Request) -> Response {
    let mut r = Response::new(ResponseBody::from(r#"{"message":"Hello, World!"}"#));
    r.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/json"));
    r
}

fn echo(req: Request) -> Response {
    let content_type = req.headers().get(header::CONTENT_TYPE).cloned();
    let mut r = Response::new(ResponseBody::from(req.into_body()));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        content_type.unwrap_or(header::HeaderValue::from_static("application/octet-stream")),
    );
    r
}

fn sleep(req: Request) -> Response {
    let ms = match req.query("ms").as_deref().map(str::parse::<u64>) {
        None => return (StatusCode::BAD_REQUEST, "missing ?ms=N (milliseconds)\n").into_response(),
        Some(Err(_)) => {
            return (StatusCode::BAD_REQUEST, "ms must be a whole number of milliseconds\n").into_response();
        }
        Some(Ok(ms)) if ms > MAX_SLEEP_MS => {
            return (StatusCode::BAD_REQUEST, format!("ms must be at most {MAX_SLEEP_MS}\n")).into_response();
        }
        Some(Ok(ms)) => ms,
    };
    greenloop::sleep(Duration::from_millis(ms));
    "slept".into_response()
}
