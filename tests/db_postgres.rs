//! The green Postgres client against a real server: typed queries,
//! statements, transactions, TCP and Unix sockets, concurrency on one
//! loop, and clear errors.
#![cfg(feature = "postgres")]

mod db_services;

use std::time::{Duration, Instant};

use greenloop::http::StatusCode;
use greenloop::pool::PoolError;
use greenloop::postgres::{Client, PostgresManager};

#[test]
fn typed_queries_statements_and_transactions() {
    let Some(url) = db_services::postgres() else { return };
    greenloop::run(move || {
        let mut db = Client::connect(&url).unwrap();
        let row = db.query_one("SELECT $1::int + 1, $2::text", &[&41i32, &"hi"]).unwrap();
        assert_eq!(row.get::<_, i32>(0), 42);
        assert_eq!(row.get::<_, &str>(1), "hi");
        assert!(db.query_opt("SELECT 1 WHERE false", &[]).unwrap().is_none());

        db.batch_execute("CREATE TEMP TABLE t (id int PRIMARY KEY, name text)").unwrap();
        let insert = db.prepare("INSERT INTO t VALUES ($1, $2)").unwrap();
        for i in 0..5 {
            assert_eq!(db.execute(&insert, &[&i, &format!("n{i}")]).unwrap(), 1);
        }
        let rows = db.query("SELECT id, name FROM t ORDER BY id", &[]).unwrap();
        assert_eq!(rows.len(), 5);
        assert_eq!(rows[4].get::<_, String>("name"), "n4");

        let tx = db.transaction().unwrap();
        tx.execute("DELETE FROM t", &[]).unwrap();
        tx.rollback().unwrap();
        let tx = db.transaction().unwrap();
        tx.execute("DELETE FROM t WHERE id < 2", &[]).unwrap();
        drop(tx); // rolls back
        let tx = db.transaction().unwrap();
        tx.execute("DELETE FROM t WHERE id = 0", &[]).unwrap();
        tx.commit().unwrap();
        let n: i64 = db.query_one("SELECT count(*) FROM t", &[]).unwrap().get(0);
        assert_eq!(n, 4);

        // A server error names the server and the reason, and leaves the client usable.
        let e = db.execute(&insert, &[&1i32, &"dup"]).unwrap_err();
        let text = e.to_string();
        assert!(text.contains("duplicate key"), "{text}");
        assert!(text.contains("127.0.0.1") || text.contains("localhost") || text.contains(".s.PGSQL"), "{text}");
        assert_eq!(e.code(), Some(&greenloop::postgres::SqlState::UNIQUE_VIOLATION));
        assert!(!e.is_closed());
        // As a handler's `?` answers it: the code, not the message.
        let (status, body): (StatusCode, String) = e.into();
        assert_eq!((status.as_u16(), body.as_str()), (500, "database error (SQLSTATE 23505)\n"));
        assert_eq!(db.query_one("SELECT 1", &[]).unwrap().get::<_, i32>(0), 1);
        drop(db);
    });
}

#[test]
fn unix_socket() {
    let Some(url) = db_services::postgres() else { return };
    let dir = "/var/run/postgresql";
    if !std::path::Path::new(dir).exists() {
        eprintln!("skipped: no Postgres socket directory at {dir}");
        return;
    }
    // The same user and database as the TCP URL, over the socket.
    let config: greenloop::postgres::Config = url.parse().unwrap();
    let user = config.get_user().unwrap_or("postgres").to_owned();
    let dbname = config.get_dbname().unwrap_or("postgres").to_owned();
    greenloop::run(move || {
        let db = Client::connect(&format!("host={dir} user={user} dbname={dbname}")).unwrap();
        let row = db.query_one("SELECT inet_client_addr() IS NULL", &[]).unwrap();
        assert!(row.get::<_, bool>(0), "a Unix-socket session has no client address");
    });
}

#[test]
fn queries_on_many_green_threads_wait_together() {
    let Some(url) = db_services::postgres() else { return };
    greenloop::run(move || {
        let start = Instant::now();
        let tasks: Vec<_> = (0..10)
            .map(|i| {
                let url = url.clone();
                move || {
                    let db = Client::connect(&url).unwrap();
                    db.query_one("SELECT pg_sleep(0.3), $1::int", &[&i]).unwrap().get::<_, i32>(1)
                }
            })
            .collect();
        let got = greenloop::join_all(tasks);
        assert_eq!(got, (0..10).collect::<Vec<_>>());
        // Ten 300 ms queries on one OS thread: together, not one after another.
        let took = start.elapsed();
        assert!(took < Duration::from_millis(1500), "took {took:?}");
    });
}

#[test]
fn connection_errors_are_clear() {
    greenloop::run(|| {
        let e = Client::connect("postgres://postgres@127.0.0.1:1/test").unwrap_err();
        assert!(e.to_string().contains("cannot connect to Postgres at 127.0.0.1:1"), "{e}");
        assert!(e.is_closed());
        let (status, _): (StatusCode, String) = e.into();
        assert_eq!(status, StatusCode::BAD_GATEWAY);
        let e = Client::connect("postgres://:::bad").unwrap_err();
        assert!(e.to_string().contains("invalid Postgres connection string"), "{e}");
        let e = Client::connect("host=/nonexistent-dir user=x").unwrap_err();
        assert!(e.to_string().contains("/nonexistent-dir/.s.PGSQL.5432"), "{e}");
    });
}

#[test]
fn killed_backend_is_an_error_and_the_pool_replaces_it() {
    let Some(url) = db_services::postgres() else { return };
    greenloop::run(move || {
        let pool = greenloop::pool::builder().name("pg").max_size(2).build(PostgresManager::new(&url));
        let admin = Client::connect(&url).unwrap();
        let victim = pool.get().unwrap();
        let pid: i32 = victim.query_one("SELECT pg_backend_pid()", &[]).unwrap().get(0);
        let killer = greenloop::spawn(move || {
            greenloop::sleep(Duration::from_millis(200));
            admin.query_one("SELECT pg_terminate_backend($1)", &[&pid]).unwrap().get::<_, bool>(0)
        });
        let e = victim.query_one("SELECT pg_sleep(5)", &[]).unwrap_err();
        assert!(killer.join().unwrap());
        assert!(e.is_closed(), "{e}");
        assert!(e.to_string().contains("terminating connection"), "{e}");
        drop(victim);
        // The broken connection was closed, not pooled: the next one works.
        let fresh = pool.get().unwrap();
        let pid2: i32 = fresh.query_one("SELECT pg_backend_pid()", &[]).unwrap().get(0);
        assert_ne!(pid, pid2);
    });
}

#[test]
fn exhausted_pool_times_out_by_parking() {
    let Some(url) = db_services::postgres() else { return };
    greenloop::run(move || {
        let pool = greenloop::pool::builder()
            .name("pg")
            .max_size(1)
            .acquire_timeout(Duration::from_millis(200))
            .build(PostgresManager::new(&url));
        let held = pool.get().unwrap();
        // While one green thread waits for the pool, another keeps running.
        let ticker = greenloop::spawn(|| {
            let mut ticks = 0;
            for _ in 0..10 {
                greenloop::sleep(Duration::from_millis(10));
                ticks += 1;
            }
            ticks
        });
        let start = Instant::now();
        let e = pool.get().unwrap_err();
        let waited = start.elapsed();
        assert!(matches!(e, PoolError::Timeout { .. }), "{e}");
        assert!(waited >= Duration::from_millis(190) && waited < Duration::from_millis(1000), "{waited:?}");
        assert_eq!(ticker.join().unwrap(), 10);
        assert!(e.to_string().contains("no connection free after"), "{e}");
        let (status, body): (StatusCode, String) = e.into();
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(body.starts_with("pg pool: no connection free after"), "{body}");
        drop(held);
        assert_eq!(pool.get().unwrap().query_one("SELECT 1", &[]).unwrap().get::<_, i32>(0), 1);
    });
}

#[test]
fn an_idle_connection_killed_while_pooled_is_replaced_on_checkout() {
    let Some(url) = db_services::postgres() else { return };
    greenloop::run(move || {
        let pool =
            greenloop::pool::builder().name("pg").check_after_idle(Duration::ZERO).build(PostgresManager::new(&url));
        let pid: i32 = pool.get().unwrap().query_one("SELECT pg_backend_pid()", &[]).unwrap().get(0);
        // Checked on checkout (an empty query) and still good: the same connection.
        let again: i32 = pool.get().unwrap().query_one("SELECT pg_backend_pid()", &[]).unwrap().get(0);
        assert_eq!(pid, again);
        let admin = Client::connect(&url).unwrap();
        assert!(admin.query_one("SELECT pg_terminate_backend($1)", &[&pid]).unwrap().get::<_, bool>(0));
        greenloop::sleep(Duration::from_millis(100));
        let fresh: i32 = pool.get().unwrap().query_one("SELECT pg_backend_pid()", &[]).unwrap().get(0);
        assert_ne!(pid, fresh, "the dead connection was discarded, not handed out");
    });
}
