//! The demo's database routes when clients go away, against the real
//! servers: a request whose client closed its connection stops waiting for
//! the pool, its running query is cancelled in Postgres, and its connection
//! leaves the pool, so a legitimate request right after still gets one.
//! Also the demo's bounds on what it asks of the shared servers: Postgres'
//! `statement_timeout`, and the prefix and expiry of its Redis keys.
#![cfg(all(feature = "postgres", feature = "redis"))]

mod db_services;

use std::io::Write;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use db_services::Demo;

/// The demo connected to Postgres under an application name of this test's
/// own, so that counting its queries sees no other test's.
fn demo_with_own_name(pg: &str, tag: &str, extra: &[&str]) -> (Demo, String) {
    let app = format!("greenloop-{tag}-{}", std::process::id());
    let url = format!("{pg}{}application_name={app}", if pg.contains('?') { '&' } else { '?' });
    let mut args = vec!["--postgres", url.as_str()];
    args.extend_from_slice(extra);
    (Demo::start(&args), app)
}

/// How many `pg_sleep` queries connections named `app` are running now.
fn running_sleeps(pg: &str, app: &str) -> i64 {
    let (pg, app) = (pg.to_owned(), app.to_owned());
    greenloop::run(move || {
        let admin = greenloop::postgres::Client::connect(&pg).unwrap();
        admin
            .query_one(
                "SELECT count(*) FROM pg_stat_activity \
                 WHERE application_name = $1 AND query LIKE '%pg_sleep%' AND state = 'active'",
                &[&app],
            )
            .unwrap()
            .get::<_, i64>(0)
    })
}

/// Polls `running_sleeps` until it is `want`; how long that took, or `None`.
fn sleeps_reach(pg: &str, app: &str, want: i64, within: Duration) -> Option<Duration> {
    let start = Instant::now();
    loop {
        if running_sleeps(pg, app) == want {
            return Some(start.elapsed());
        }
        if start.elapsed() > within {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Writes `GET path` on a new connection, without reading the answer.
fn send_only(demo: &Demo, path: &str) -> TcpStream {
    let mut s = TcpStream::connect(demo.addr).expect("connect to the demo");
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n").as_bytes()).unwrap();
    s
}

/// A legitimate short query right after the abandoned ones: answered, and
/// well before the 2 s a request waits for the pool before its 503.
fn assert_legit_request_served(demo: &Demo) {
    let (status, body, took) = demo.request("GET", "/db/sleep?ms=10");
    assert_eq!(status, 200, "{body}");
    assert!(took < Duration::from_millis(1500), "the legitimate request took {took:?}");
}

#[test]
fn clients_that_leave_while_their_queries_run_free_the_pool_and_postgres() {
    let Some(pg) = db_services::postgres() else { return };
    let (demo, app) = demo_with_own_name(&pg, "abandon-running", &["--db-pool", "4", "--db-timeout", "2"]);
    // Four run a query, eight wait for the pool; all leave once the four run.
    let abandoned: Vec<TcpStream> = (0..12).map(|_| send_only(&demo, "/db/sleep?ms=5000")).collect();
    assert!(
        sleeps_reach(&pg, &app, 4, Duration::from_secs(10)).is_some(),
        "the pool's four connections never all ran a query"
    );
    let left = Instant::now();
    drop(abandoned);
    let gone = sleeps_reach(&pg, &app, 0, Duration::from_secs(3));
    eprintln!("the abandoned queries were gone from pg_stat_activity after {gone:?}");
    // Without cancellation they run their whole 5 s.
    assert!(gone.is_some(), "abandoned queries still run {:?} after their clients left", left.elapsed());
    assert_legit_request_served(&demo);
    demo.assert_loop_never_blocked();
}

#[test]
fn clients_that_close_at_once_do_not_hold_the_pool() {
    let Some(pg) = db_services::postgres() else { return };
    let (demo, app) = demo_with_own_name(&pg, "abandon-at-once", &["--db-pool", "4", "--db-timeout", "2"]);
    for _ in 0..3 {
        for _ in 0..20 {
            drop(send_only(&demo, "/db/sleep?ms=5000"));
        }
        std::thread::sleep(Duration::from_millis(100));
        assert_legit_request_served(&demo);
    }
    assert!(sleeps_reach(&pg, &app, 0, Duration::from_secs(3)).is_some(), "queries of clients that left still run");
}

#[test]
fn the_statement_timeout_ends_a_long_query() {
    let Some(pg) = db_services::postgres() else { return };
    let demo = Demo::start(&["--postgres", &pg, "--db-statement-timeout", "0.3"]);
    let (status, body, took) = demo.request("GET", "/db/sleep?ms=3000");
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("statement timeout"), "{body}");
    assert!(took < Duration::from_secs(2), "{took:?}");
    let (status, body, _) = demo.request("GET", "/db/sleep?ms=10");
    assert_eq!(status, 200, "{body}");
}

#[test]
fn cache_keys_are_prefixed_and_expire() {
    let Some(redis) = db_services::redis() else { return };
    let demo = Demo::start(&["--redis", &redis]);
    let key = format!("greenloop-test:prefix:{}", std::process::id());
    let (status, body, _) = demo.request("POST", &format!("/cache/incr?key={key}"));
    assert_eq!((status, body.trim()), (200, "1"));
    let (ttl, bare) = greenloop::run(move || {
        use greenloop::redis::{Connection, cmd};
        let mut r = Connection::open(&redis).unwrap();
        let prefixed = format!("greenloop:demo:{key}");
        let ttl = r.query::<i64>(&cmd("TTL").arg(&prefixed)).unwrap();
        let bare = r.query::<i64>(&cmd("EXISTS").arg(&key)).unwrap();
        r.query::<i64>(&cmd("DEL").arg(&prefixed)).unwrap();
        (ttl, bare)
    });
    assert!((1..=3600).contains(&ttl), "the demo's key expires within the hour: TTL {ttl}");
    assert_eq!(bare, 0, "the demo wrote the client's key name as given");
}

#[test]
fn a_query_cut_short_by_a_timeout_is_cancelled_on_the_server() {
    let Some(pg) = db_services::postgres() else { return };
    let app = format!("greenloop-cut-short-{}", std::process::id());
    let url = format!("{pg}{}application_name={app}", if pg.contains('?') { '&' } else { '?' });
    greenloop::run(move || {
        let db = greenloop::postgres::Client::connect(&url).unwrap();
        let start = Instant::now();
        let r = greenloop::timeout(Duration::from_millis(300), || db.execute("SELECT pg_sleep(5)", &[]));
        assert!(r.is_err(), "{r:?}");
        assert!(start.elapsed() < Duration::from_secs(2), "{:?}", start.elapsed());
        assert!(db.is_closed(), "a client whose query was cut short is not used again");
    });
    // The client is gone too, but a backend busy in pg_sleep would not
    // notice that before the sleep ends: only the cancel request stops it.
    assert!(
        sleeps_reach(&pg, &app, 0, Duration::from_secs(3)).is_some(),
        "the query still runs after its caller stopped waiting"
    );
}
