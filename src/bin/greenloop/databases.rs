//! The demo's database and cache routes: Postgres and Redis through a
//! green pool per worker, so a thousand requests can wait on the database
//! at once without holding up anything else on the worker.
//!
//! Without `--postgres URL` / `--redis URL` (or in a build without the
//! `postgres` / `redis` features) the routes answer 503 with the reason.

use std::time::Duration;

use greenloop::http::{IntoResponse, Request, Response, Router, Server, StatusCode, get, post};

/// Where the databases are and how the pools are sized.
#[derive(Debug, Clone)]
pub struct DbOptions {
    /// Postgres connection string (`--postgres`).
    pub postgres: Option<String>,
    /// Redis URL (`--redis`).
    pub redis: Option<String>,
    /// Connections per worker per pool (`--db-pool`).
    pub pool_size: usize,
    /// How long a request waits for a pooled connection (`--db-timeout`).
    pub acquire_timeout: Duration,
    /// Postgres' `statement_timeout` on pooled connections (`--db-statement-timeout`):
    /// the server's own bound on a query, whoever waits for it.
    pub statement_timeout: Duration,
}

impl Default for DbOptions {
    fn default() -> DbOptions {
        DbOptions {
            postgres: None,
            redis: None,
            pool_size: 64,
            acquire_timeout: Duration::from_secs(2),
            statement_timeout: Duration::from_secs(10),
        }
    }
}

/// Adds the routes.
pub fn routes(router: Router) -> Router {
    router.route("/db/sleep", get(db_sleep)).route("/db/items", get(db_items)).route("/cache/incr", post(cache_incr))
}

/// Checks that this build can serve what was asked for.
pub fn check(o: &DbOptions) -> Result<(), String> {
    if o.postgres.is_some() && !cfg!(feature = "postgres") {
        return Err("--postgres: this build has no Postgres support (build with --features postgres)".into());
    }
    if o.redis.is_some() && !cfg!(feature = "redis") {
        return Err("--redis: this build has no Redis support (build with --features redis)".into());
    }
    Ok(())
}

fn unavailable(reason: String) -> Response {
    (StatusCode::SERVICE_UNAVAILABLE, format!("{reason}\n")).into_response()
}

#[cfg(any(feature = "postgres", feature = "redis"))]
fn bad_request(reason: &str) -> Response {
    (StatusCode::BAD_REQUEST, format!("{reason}\n")).into_response()
}

#[cfg(feature = "postgres")]
pub use pg::{prepare_postgres, with_postgres};

#[cfg(not(feature = "postgres"))]
pub fn prepare_postgres(_o: &DbOptions) {}

#[cfg(not(feature = "postgres"))]
pub fn with_postgres(server: Server, _o: &DbOptions) -> Server {
    server
}

#[cfg(not(feature = "postgres"))]
fn db_sleep(_req: Request) -> Response {
    unavailable("no Postgres: this build has no Postgres support (build with --features postgres)".into())
}

#[cfg(not(feature = "postgres"))]
fn db_items(req: Request) -> Response {
    db_sleep(req)
}

#[cfg(feature = "postgres")]
use pg::{db_items, db_sleep};

#[cfg(feature = "postgres")]
mod pg {
    use super::*;
    use greenloop::http::{RequestExt, worker_state};
    use greenloop::pool::{Pool, Pooled};
    use greenloop::postgres::{Client, Config, PostgresManager};
    use serde_json::json;

    type PgPool = Pool<PostgresManager>;

    /// Longest `pg_sleep` `/db/sleep` runs.
    const MAX_DB_SLEEP_MS: u64 = 5_000;

    /// Creates the demo table and its rows, once, before the workers start.
    /// A server that cannot be reached is reported, not fatal: the routes
    /// then say why they cannot answer.
    pub fn prepare_postgres(o: &DbOptions) {
        let Some(url) = o.postgres.clone() else { return };
        let result = greenloop::run(move || -> Result<(), greenloop::postgres::Error> {
            let db = Client::connect(&url)?;
            db.batch_execute(
                "CREATE TABLE IF NOT EXISTS greenloop_demo_items (
                     id int PRIMARY KEY, name text NOT NULL, price_cents int NOT NULL);
                 INSERT INTO greenloop_demo_items VALUES
                     (1, 'green thread', 0), (2, 'event loop', 100), (3, 'connection pool', 250)
                 ON CONFLICT (id) DO NOTHING",
            )
        });
        match result {
            Ok(()) => log::info!("Postgres: demo table greenloop_demo_items ready"),
            Err(e) => log::warn!("Postgres: could not create the demo table: {e}"),
        }
    }

    /// Gives every worker its own Postgres pool.
    pub fn with_postgres(server: Server, o: &DbOptions) -> Server {
        let Some(url) = o.postgres.clone() else { return server };
        let (size, timeout, statement) = (o.pool_size, o.acquire_timeout, o.statement_timeout);
        server.with_worker_state(move || {
            greenloop::pool::builder()
                .name("postgres")
                .max_size(size)
                .acquire_timeout(timeout)
                .build(manager(&url, statement))
        })
    }

    /// A manager whose connections run each statement for at most
    /// `statement` (Postgres' `statement_timeout`, set at connection start,
    /// after any `options` the URL gives). A malformed URL is left to the
    /// manager to report on each checkout.
    fn manager(url: &str, statement: Duration) -> PostgresManager {
        let Ok(mut config) = url.parse::<Config>() else { return PostgresManager::new(url) };
        let ms = statement.as_millis().max(1);
        let options = match config.get_options() {
            Some(given) => format!("{given} -c statement_timeout={ms}"),
            None => format!("-c statement_timeout={ms}"),
        };
        config.options(&options);
        PostgresManager::from_config(config)
    }

    /// A pooled connection, or why there is none (answered with a 503).
    fn checkout() -> Result<Pooled<PostgresManager>, String> {
        let pool = worker_state::<PgPool>().ok_or("no Postgres configured: start the server with --postgres URL")?;
        pool.get().map_err(|e| e.to_string())
    }

    /// A query failed: a lost connection is closed rather than pooled.
    fn failed(conn: Pooled<PostgresManager>, e: greenloop::postgres::Error) -> Response {
        if e.is_closed() {
            conn.discard();
        }
        (StatusCode::BAD_GATEWAY, format!("{e}\n")).into_response()
    }

    /// `GET /db/sleep?ms=N`: `SELECT pg_sleep(N/1000.0)` on a pooled connection.
    pub fn db_sleep(req: Request) -> Response {
        let ms = match req.query("ms").as_deref().map(str::parse::<u64>) {
            None => return bad_request("missing ?ms=N (milliseconds)"),
            Some(Err(_)) => return bad_request("ms must be a whole number of milliseconds"),
            Some(Ok(ms)) if ms > MAX_DB_SLEEP_MS => {
                return bad_request(&format!("ms must be at most {MAX_DB_SLEEP_MS}"));
            }
            Some(Ok(ms)) => ms,
        };
        let conn = match checkout() {
            Ok(c) => c,
            Err(reason) => return unavailable(reason),
        };
        match conn.execute("SELECT pg_sleep($1::float8 / 1000.0)", &[&(ms as f64)]) {
            Ok(_) => format!("slept {ms} ms in Postgres\n").into_response(),
            Err(e) => failed(conn, e),
        }
    }

    /// `GET /db/items`: the demo table as JSON.
    pub fn db_items(_req: Request) -> Response {
        let conn = match checkout() {
            Ok(c) => c,
            Err(reason) => return unavailable(reason),
        };
        match conn.query("SELECT id, name, price_cents FROM greenloop_demo_items ORDER BY id", &[]) {
            Ok(rows) => {
                let items: Vec<_> = rows
                    .iter()
                    .map(|r| {
                        json!({"id": r.get::<_, i32>(0), "name": r.get::<_, &str>(1), "price_cents": r.get::<_, i32>(2)})
                    })
                    .collect();
                let mut resp = json!(items).to_string().into_response();
                resp.headers_mut().insert(
                    greenloop::http::header::CONTENT_TYPE,
                    greenloop::http::header::HeaderValue::from_static("application/json"),
                );
                resp
            }
            Err(e) => failed(conn, e),
        }
    }
}

#[cfg(feature = "redis")]
pub use rd::with_redis;

#[cfg(not(feature = "redis"))]
pub fn with_redis(server: Server, _o: &DbOptions) -> Server {
    server
}

#[cfg(not(feature = "redis"))]
fn cache_incr(_req: Request) -> Response {
    unavailable("no Redis: this build has no Redis support (build with --features redis)".into())
}

#[cfg(feature = "redis")]
use rd::cache_incr;

#[cfg(feature = "redis")]
mod rd {
    use super::*;
    use greenloop::http::{RequestExt, worker_state};
    use greenloop::pool::Pool;
    use greenloop::redis::{RedisManager, cmd};

    type RedisPool = Pool<RedisManager>;

    /// Longest key `/cache/incr` accepts.
    const MAX_KEY: usize = 256;

    /// What every key `/cache/incr` writes starts with: the demo shares a
    /// Redis with others, and must not touch keys it did not make.
    pub const KEY_PREFIX: &str = "greenloop:demo:";

    /// How long a counter lives after its last increment: the demo's keys
    /// do not pile up in a shared Redis.
    pub const KEY_TTL_SECS: u64 = 3600;

    /// Gives every worker its own Redis pool.
    pub fn with_redis(server: Server, o: &DbOptions) -> Server {
        let Some(url) = o.redis.clone() else { return server };
        let (size, timeout) = (o.pool_size, o.acquire_timeout);
        server.with_worker_state(move || {
            greenloop::pool::builder()
                .name("redis")
                .max_size(size)
                .acquire_timeout(timeout)
                .build(RedisManager::new(&url).connect_timeout(timeout))
        })
    }

    /// `POST /cache/incr?key=K`: Redis `INCR greenloop:demo:K` (and an
    /// expiry of an hour), answered with the new value.
    pub fn cache_incr(req: Request) -> Response {
        let key = match req.query("key") {
            None => return bad_request("missing ?key=K"),
            Some(k) if k.is_empty() || k.len() > MAX_KEY => {
                return bad_request(&format!("key must be 1 to {MAX_KEY} bytes"));
            }
            Some(k) => k,
        };
        let Some(pool) = worker_state::<RedisPool>() else {
            return unavailable("no Redis configured: start the server with --redis URL".into());
        };
        let mut conn = match pool.get() {
            Ok(c) => c,
            Err(e) => return unavailable(e.to_string()),
        };
        let key = format!("{KEY_PREFIX}{key}");
        // One round trip; the expiry moves on with every increment.
        let commands = [cmd("INCR").arg(&key), cmd("EXPIRE").arg(&key).arg(KEY_TTL_SECS)];
        match conn.pipeline::<(i64, i64)>(&commands) {
            Ok((n, _)) => format!("{n}\n").into_response(),
            Err(e) => (StatusCode::BAD_GATEWAY, format!("{e}\n")).into_response(),
        }
    }
}
