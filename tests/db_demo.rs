//! The demo's database and cache routes against the real servers: many
//! requests waiting on Postgres and Redis at once on one worker, and the
//! faults (a killed backend, an unreachable server, an exhausted pool)
//! answered with a reason and without stalling anything else.

mod db_services;

use std::time::{Duration, Instant};

use db_services::{Demo, exchange};

/// `/plaintext` answers quickly: nothing is holding the worker. (Every
/// fault these tests cause lasts a second or more; 500 ms leaves room for a
/// loaded CI machine.)
fn assert_worker_free(demo: &Demo) {
    let (status, body, took) = demo.request("GET", "/plaintext");
    assert_eq!((status, body.as_str()), (200, "Hello, World!"));
    assert!(took < Duration::from_millis(500), "/plaintext took {took:?}");
}

#[test]
fn fifty_pg_sleeps_on_one_worker_finish_together() {
    let Some(pg) = db_services::postgres() else { return };
    let demo = Demo::start(&["--postgres", &pg, "--db-pool", "64"]);
    let start = Instant::now();
    let requests: Vec<_> = (0..50)
        .map(|_| {
            let addr = demo.addr;
            std::thread::spawn(move || {
                let mut s = std::net::TcpStream::connect(addr).unwrap();
                exchange(&mut s, "GET", "/db/sleep?ms=1000")
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    assert_worker_free(&demo);
    for r in requests {
        let (status, body) = r.join().unwrap();
        assert_eq!(status, 200, "{body}");
    }
    let wall = start.elapsed();
    eprintln!("50 concurrent GET /db/sleep?ms=1000 on one worker: {wall:?}");
    // One second of pg_sleep each, all at once; generous for a loaded CI machine.
    assert!(wall < Duration::from_millis(2500), "took {wall:?}");
    demo.assert_loop_never_blocked();
}

#[test]
fn a_thousand_concurrent_incrs_count_exactly() {
    let Some(redis) = db_services::redis() else { return };
    let demo = Demo::start(&["--redis", &redis]);
    let key = format!("greenloop-test:demo-incr:{}:{}", std::process::id(), Instant::now().elapsed().as_nanos());
    let addr = demo.addr;
    let path = format!("/cache/incr?key={key}");
    let answers = greenloop::run(move || {
        let tasks: Vec<_> = (0..1000)
            .map(|_| {
                let path = path.clone();
                move || {
                    let mut s = greenloop::net::TcpStream::connect(addr).unwrap();
                    exchange(&mut s, "POST", &path)
                }
            })
            .collect();
        greenloop::join_all(tasks)
    });
    let mut values: Vec<i64> = answers
        .iter()
        .map(|(status, body)| {
            assert_eq!(*status, 200, "{body}");
            body.trim().parse().unwrap()
        })
        .collect();
    values.sort();
    assert_eq!(values, (1..=1000).collect::<Vec<_>>(), "every INCR counted once");
    let (status, body, _) = demo.request("POST", &format!("/cache/incr?key={key}"));
    assert_eq!((status, body.trim()), (200, "1001"));
    demo.assert_loop_never_blocked();
}

#[test]
fn db_items_lists_the_demo_table() {
    let Some(pg) = db_services::postgres() else { return };
    let demo = Demo::start(&["--postgres", &pg]);
    let (status, body, _) = demo.request("GET", "/db/items");
    assert_eq!(status, 200, "{body}");
    let items: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(items[0]["name"], "green thread");
    assert_eq!(items.as_array().unwrap().len(), 3);
}

#[test]
fn a_killed_backend_fails_its_request_and_the_next_one_succeeds() {
    let Some(pg) = db_services::postgres() else { return };
    // A name of our own, so that only this test's connections are killed.
    let app = format!("greenloop-kill-{}", std::process::id());
    let url = format!("{pg}{}application_name={app}", if pg.contains('?') { '&' } else { '?' });
    let demo = Demo::start(&["--postgres", &url]);
    let addr = demo.addr;
    let victim = std::thread::spawn(move || {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        let start = Instant::now();
        let (status, body) = exchange(&mut s, "GET", "/db/sleep?ms=5000");
        (status, body, start.elapsed())
    });
    std::thread::sleep(Duration::from_millis(400));
    let killed = greenloop::run(move || {
        let admin = greenloop::postgres::Client::connect(&pg).unwrap();
        admin
            .query_one(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
                 WHERE application_name = $1 AND query LIKE '%pg_sleep%' AND state = 'active'",
                &[&app],
            )
            .unwrap()
            .get::<_, i64>(0)
    });
    assert_eq!(killed, 1);
    assert_worker_free(&demo);
    let (status, body, took) = victim.join().unwrap();
    assert!((500..600).contains(&status), "{status} {body}");
    assert!(body.contains("terminating connection"), "{body}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    let (status, body, _) = demo.request("GET", "/db/sleep?ms=10");
    assert_eq!(status, 200, "{body}");
    demo.assert_loop_never_blocked();
}

#[test]
fn unreachable_redis_is_a_quick_503() {
    let demo = Demo::start(&["--redis", "redis://127.0.0.1:1", "--db-timeout", "1"]);
    let (status, body, took) = demo.request("POST", "/cache/incr?key=k");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("cannot connect to Redis at 127.0.0.1:1"), "{body}");
    assert!(took < Duration::from_millis(1500), "{took:?}");
    assert_worker_free(&demo);
    demo.assert_loop_never_blocked();
}

#[test]
fn an_exhausted_pool_answers_503_after_the_acquire_timeout() {
    let Some(pg) = db_services::postgres() else { return };
    let demo = Demo::start(&["--postgres", &pg, "--db-pool", "2", "--db-timeout", "0.3"]);
    let holders: Vec<_> = (0..2)
        .map(|_| {
            let addr = demo.addr;
            std::thread::spawn(move || {
                exchange(&mut std::net::TcpStream::connect(addr).unwrap(), "GET", "/db/sleep?ms=1500")
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let (status, body, took) = demo.request("GET", "/db/sleep?ms=10");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("no connection free"), "{body}");
    assert!(took >= Duration::from_millis(250) && took < Duration::from_millis(1000), "{took:?}");
    assert_worker_free(&demo);
    for h in holders {
        assert_eq!(h.join().unwrap().0, 200);
    }
    let (status, _, _) = demo.request("GET", "/db/sleep?ms=10");
    assert_eq!(status, 200);
    let (_, metrics, _) = demo.request("GET", "/metrics");
    assert!(metrics.contains("greenloop_pool_timeouts_total{pool=\"postgres\"} 1"), "{metrics}");
    demo.assert_loop_never_blocked();
}

#[test]
fn pools_close_and_the_server_stops_promptly_on_sigterm() {
    let (Some(pg), Some(redis)) = (db_services::postgres(), db_services::redis()) else { return };
    let mut demo = Demo::start(&["--postgres", &pg, "--redis", &redis]);
    for _ in 0..3 {
        assert_eq!(demo.request("GET", "/db/sleep?ms=1").0, 200);
        assert_eq!(demo.request("POST", "/cache/incr?key=greenloop-test:sigterm").0, 200);
    }
    // Idle pooled connections (and their connection green threads) do not hold the drain.
    assert!(demo.terminate(Duration::from_secs(5)), "still running 5 s after SIGTERM: {:#?}", demo.log());
}

#[test]
fn without_the_options_the_routes_say_why() {
    let demo = Demo::start(&[]);
    for (method, path, says) in [
        ("GET", "/db/sleep?ms=1", "--postgres"),
        ("GET", "/db/items", "--postgres"),
        ("POST", "/cache/incr?key=k", "--redis"),
    ] {
        let (status, body, took) = demo.request(method, path);
        assert_eq!(status, 503, "{path}: {body}");
        assert!(body.contains(says) && body.lines().count() == 1, "{path}: {body}");
        assert!(took < Duration::from_secs(1));
    }
}
