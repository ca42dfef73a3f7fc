//! A page-hit counter and a pub/sub feed on Redis, in blocking style.
//!
//! Scenario: a view counts hits in Redis and another streams what is
//! published on a channel. Each Redis call parks only its own green thread;
//! a subscriber waiting for messages holds nothing up.
//!
//! Run (Redis on 127.0.0.1:6379, or set REDIS_URL):
//! `cargo run --example redis --features redis`, then
//! `curl -X POST 'http://127.0.0.1:8080/hit?page=home'`,
//! `curl 'http://127.0.0.1:8080/next?channel=news'` (waits up to 30 s), and in
//! another shell `redis-cli PUBLISH news hello`.

use std::time::Duration;

use greenloop::http::{
    IntoResponse, Request, RequestExt, Response, Router, Server, StatusCode, get, post, worker_state,
};
use greenloop::pool::Pool;
use greenloop::redis::{Connection, RedisManager, cmd};

type Cache = Pool<RedisManager>;

/// `POST /hit?page=P`: counts a hit and its time in one pipeline (one round trip).
fn hit(req: Request) -> Response {
    let page = req.query("page").unwrap_or_else(|| "home".into());
    let pool = worker_state::<Cache>().expect("registered in main");
    let mut conn = match pool.get() {
        Ok(c) => c,
        Err(e) => return (StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")).into_response(),
    };
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs();
    let key = format!("hits:{page}");
    match conn.pipeline::<(i64, ())>(&[cmd("INCR").arg(&key), cmd("SET").arg(format!("{key}:last")).arg(now)]) {
        Ok((n, ())) => format!("{page}: {n} hits\n").into_response(),
        Err(e) => (StatusCode::BAD_GATEWAY, format!("{e}\n")).into_response(),
    }
}

/// `GET /next?channel=C`: waits for the next message published on C.
fn next(req: Request) -> Response {
    let channel = req.query("channel").unwrap_or_else(|| "news".into());
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    // A subscription holds its connection for itself: not from the pool.
    let message = Connection::open(&url).and_then(|c| c.subscribe(&[&channel])).and_then(|mut sub| {
        sub.set_read_timeout(Some(Duration::from_secs(30)))?;
        sub.next_message()
    });
    match message {
        Ok(m) => format!("{}: {}\n", m.channel, String::from_utf8_lossy(&m.payload)).into_response(),
        Err(e) => (StatusCode::GATEWAY_TIMEOUT, format!("{e}\n")).into_response(),
    }
}

fn main() -> std::io::Result<()> {
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let app = Router::new().route("/hit", post(hit)).route("/next", get(next));
    eprintln!("serving on http://127.0.0.1:8080 with Redis at {url}");
    Server::bind("127.0.0.1:8080")
        .with_worker_state(move || greenloop::pool::builder().name("redis").max_size(32).build(RedisManager::new(&url)))
        .serve(app)
}
