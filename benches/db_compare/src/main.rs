//! Database figures, one mode per run (see benches/db_compare.sh):
//!
//! - `pg-select1 URL SECS`: `SELECT 1` (prepared) queries/s on one thread,
//!   one connection: greenloop's client, tokio-postgres on a current-thread
//!   tokio runtime, and the sync `postgres` crate.
//! - `redis-incr URL N CONNS`: `INCR` ops/s through greenloop's client
//!   with CONNS connections on one thread (one green thread each).
//! - `pg-sleep50 URL`: 50 × `SELECT pg_sleep(1)` at once, on green
//!   connections versus `offload` + the sync `postgres` crate: wall time and
//!   the OS threads the process had at the peak.

use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, what: &str| -> String {
        args.get(i).cloned().unwrap_or_else(|| {
            eprintln!(
                "usage: db_compare pg-select1 URL SECS | redis-incr URL N CONNS | pg-sleep50 URL (missing {what})"
            );
            std::process::exit(2)
        })
    };
    let number = |i: usize, what: &str| -> u64 {
        arg(i, what).parse().unwrap_or_else(|_| {
            eprintln!("{what} must be a whole number");
            std::process::exit(2)
        })
    };
    match arg(0, "mode").as_str() {
        "pg-select1" => pg_select1(&arg(1, "URL"), Duration::from_secs(number(2, "SECS"))),
        "redis-incr" => redis_incr(&arg(1, "URL"), number(2, "N"), number(3, "CONNS") as usize),
        "pg-sleep50" => pg_sleep50(&arg(1, "URL")),
        other => {
            eprintln!("unknown mode {other:?}");
            std::process::exit(2)
        }
    }
}

fn rate(n: u64, took: Duration) -> String {
    format!("{:>8.0}/s ({n} in {:.2} s)", n as f64 / took.as_secs_f64(), took.as_secs_f64())
}

fn pg_select1(url: &str, secs: Duration) {
    // greenloop: blocking-style calls on a green thread.
    let u = url.to_owned();
    let (n, took) = greenloop::run(move || {
        let db = greenloop::postgres::Client::connect(&u).expect("connect");
        let stmt = db.prepare("SELECT 1").unwrap();
        let start = Instant::now();
        let mut n = 0;
        while start.elapsed() < secs {
            let _: i32 = db.query_one(&stmt, &[]).unwrap().get(0);
            n += 1;
        }
        (n, start.elapsed())
    });
    println!("SELECT 1, greenloop::postgres (green thread):      {}", rate(n, took));

    // tokio-postgres on a current-thread runtime.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (n, took) = rt.block_on(async {
        let (db, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls).await.expect("connect");
        tokio::spawn(conn);
        let stmt = db.prepare("SELECT 1").await.unwrap();
        let start = Instant::now();
        let mut n = 0;
        while start.elapsed() < secs {
            let _: i32 = db.query_one(&stmt, &[]).await.unwrap().get(0);
            n += 1;
        }
        (n, start.elapsed())
    });
    println!("SELECT 1, tokio-postgres (current-thread tokio):   {}", rate(n, took));

    // The sync crate.
    let mut db = postgres::Client::connect(url, postgres::NoTls).expect("connect");
    let stmt = db.prepare("SELECT 1").unwrap();
    let start = Instant::now();
    let mut n = 0;
    while start.elapsed() < secs {
        let _: i32 = db.query_one(&stmt, &[]).unwrap().get(0);
        n += 1;
    }
    println!("SELECT 1, postgres (sync crate):                   {}", rate(n, start.elapsed()));
}

fn redis_incr(url: &str, n: u64, conns: usize) {
    let u = url.to_owned();
    let took = greenloop::run(move || {
        let mut clients: Vec<_> =
            (0..conns).map(|_| greenloop::redis::Connection::open(&u).expect("connect")).collect();
        let start = Instant::now();
        let per = n / conns as u64;
        let tasks: Vec<_> = clients
            .drain(..)
            .map(|mut c| {
                move || {
                    let incr = greenloop::redis::cmd("INCR").arg("db_compare:counter");
                    for _ in 0..per {
                        let _: i64 = c.query(&incr).unwrap();
                    }
                }
            })
            .collect();
        greenloop::join_all(tasks);
        start.elapsed()
    });
    println!(
        "INCR, greenloop::redis, {conns:>2} connection(s), one thread: {}",
        rate(n / conns as u64 * conns as u64, took)
    );
}

/// Threads of this process now (Linux).
fn os_threads() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("Threads:").map(|v| v.trim().parse().unwrap_or(0))))
        .unwrap_or(0)
}

/// Samples the process' thread count every millisecond until `stop`.
fn peak_threads(stop: std::sync::Arc<std::sync::atomic::AtomicBool>) -> std::thread::JoinHandle<usize> {
    std::thread::spawn(move || {
        let mut peak = 0;
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            peak = peak.max(os_threads());
            std::thread::sleep(Duration::from_millis(1));
        }
        // Not counting this sampler.
        peak.saturating_sub(1)
    })
}

fn pg_sleep50(url: &str) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    // Green: 50 connections on one thread, each green thread waits in Postgres.
    let u = url.to_owned();
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = peak_threads(stop.clone());
    let wall = greenloop::run(move || {
        let start = Instant::now();
        let tasks: Vec<_> = (0..50)
            .map(|_| {
                let u = u.clone();
                move || {
                    let db = greenloop::postgres::Client::connect(&u).expect("connect");
                    db.execute("SELECT pg_sleep(1)", &[]).unwrap();
                }
            })
            .collect();
        greenloop::join_all(tasks);
        start.elapsed()
    });
    stop.store(true, Ordering::Relaxed);
    let peak = sampler.join().unwrap();
    println!("50 x pg_sleep(1), green connections:        wall {:.3} s, peak OS threads {peak}", wall.as_secs_f64());

    // offload + sync crate: one pool thread per waiting query.
    let u = url.to_owned();
    let stop = Arc::new(AtomicBool::new(false));
    let sampler = peak_threads(stop.clone());
    let (wall, offload_threads) = greenloop::run(move || {
        let start = Instant::now();
        let tasks: Vec<_> = (0..50)
            .map(|_| {
                let u = u.clone();
                move || {
                    greenloop::offload(move || {
                        let mut db = postgres::Client::connect(&u, postgres::NoTls).expect("connect");
                        db.execute("SELECT pg_sleep(1)", &[]).unwrap();
                    })
                }
            })
            .collect();
        greenloop::join_all(tasks);
        (start.elapsed(), greenloop::inspect::offload_stats().threads)
    });
    stop.store(true, Ordering::Relaxed);
    let peak = sampler.join().unwrap();
    println!(
        "50 x pg_sleep(1), offload + sync postgres:  wall {:.3} s, peak OS threads {peak} (offload pool threads: {offload_threads})",
        wall.as_secs_f64()
    );
}
