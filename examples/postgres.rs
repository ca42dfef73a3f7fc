//! A handler that queries Postgres in blocking style, through a green pool
//! per worker.
//!
//! Scenario: a view reads from the database. With a blocking driver (the
//! sync `postgres` crate, r2d2's Condvar) every request on the worker would
//! wait behind the one talking to the database; here the query parks only
//! its own green thread, so a hundred slow queries run at once on one
//! thread and everything else keeps answering.
//!
//! Run (Postgres on 127.0.0.1:5432, or set DATABASE_URL):
//! `cargo run --example postgres --features postgres`, then
//! `curl 'http://127.0.0.1:8080/user?name=ada'` and
//! `curl 'http://127.0.0.1:8080/slow?s=1'` ten times at once: one second in all.

use std::rc::Rc;

use greenloop::http::{IntoResponse, Request, RequestExt, Response, Router, Server, StatusCode, get, worker_state};
use greenloop::pool::Pool;
use greenloop::postgres::PostgresManager;

type Db = Pool<PostgresManager>;

fn db() -> Rc<Db> {
    worker_state::<Db>().expect("registered in main")
}

/// `GET /user?name=N`: a parameterised query with a typed result. `?`
/// turns a pool timeout into a 503 and a failed query into a 500 (502 if
/// the connection was lost), logging the details.
fn user(req: Request) -> Result<String, (StatusCode, String)> {
    let name = req.query("name").unwrap_or_else(|| "world".into());
    let row = db().get()?.query_one("SELECT upper($1::text), now()::text", &[&name])?;
    Ok(format!("hello {} at {}\n", row.get::<_, &str>(0), row.get::<_, &str>(1)))
}

/// `GET /slow?s=N`: a query that takes N seconds (up to 10) in the database.
fn slow(req: Request) -> Response {
    let secs: f64 = match req.query("s").map(|s| s.parse::<f64>()) {
        None => 1.0,
        Some(Ok(s)) if (0.0..=10.0).contains(&s) => s,
        _ => return (StatusCode::BAD_REQUEST, "s must be a number of seconds up to 10\n").into_response(),
    };
    let result = db()
        .get()
        .map_err(|e| e.to_string())
        .and_then(|conn| conn.execute("SELECT pg_sleep($1)", &[&secs]).map_err(|e| e.to_string()));
    match result {
        Ok(_) => format!("the database slept {secs} s; this worker served others meanwhile\n").into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")).into_response(),
    }
}

fn main() -> std::io::Result<()> {
    let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let app = Router::new().route("/user", get(user)).route("/slow", get(slow));
    eprintln!("serving on http://127.0.0.1:8080 with Postgres at {url}");
    Server::bind("127.0.0.1:8080")
        .with_worker_state(move || {
            greenloop::pool::builder().name("postgres").max_size(32).build(PostgresManager::new(&url))
        })
        .serve(app)
}
