//! The figures of docs/ECOSYSTEM.md for sqlx on MariaDB:
//!
//! 1. `SELECT 1` per second, one query in flight, on one greenloop worker
//!    through `block_on`, and the same loop on tokio's own current-thread
//!    runtime, alternated in one run (the machine is noisy).
//! 2. 1000 concurrent `SELECT SLEEP(1)` on one worker through a pool of
//!    100: the wall time (the pool's bound is 10 s) and the watchdog's
//!    incidents on the loop (0: the loop was never held).
//!
//! `cargo run --release -p greenloop-ecosystem --example sqlx_figures`
//! (`GREENLOOP_TEST_MYSQL` overrides the URL).

use std::time::{Duration, Instant};

use greenloop::block_on;

const ROUND: Duration = Duration::from_secs(3);

fn main() {
    let Some(url) = greenloop_ecosystem::MYSQL.url() else { return };
    println!("SELECT 1, one in flight, {} s rounds (queries/s):", ROUND.as_secs());
    let (mut bridged, mut native) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        bridged.push(through_the_bridge(&url));
        native.push(on_tokio_current_thread(&url));
        println!(
            "  greenloop block_on: {:>7.0}   tokio current_thread: {:>7.0}",
            bridged.last().unwrap(),
            native.last().unwrap()
        );
    }
    let (b, n) = (median(&mut bridged), median(&mut native));
    println!("median: greenloop {b:.0}/s, tokio {n:.0}/s, ratio {:.2}", b / n);

    let url2 = url.clone();
    let (wall, incidents) = greenloop::run(move || {
        let pool =
            block_on(sqlx::mysql::MySqlPoolOptions::new().max_connections(100).min_connections(100).connect(&url2))
                .expect("connect to MariaDB");
        let start = Instant::now();
        let tasks: Vec<_> = (0..1000)
            .map(|_| {
                let pool = pool.clone();
                move || {
                    block_on(async { sqlx::query_scalar::<_, i64>("SELECT SLEEP(1)").fetch_one(&pool).await })
                        .expect("SELECT SLEEP(1)")
                }
            })
            .collect();
        let results = greenloop::join_all(tasks);
        assert_eq!(results.len(), 1000);
        let wall = start.elapsed();
        (wall, greenloop::watchdog::blocking_stats().map_or(0, |s| s.incidents))
    });
    println!("1000 × SELECT SLEEP(1) through a pool of 100 on one worker: {wall:.2?}; watchdog incidents: {incidents}");
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn through_the_bridge(url: &str) -> f64 {
    let url = url.to_owned();
    greenloop::run(move || {
        let pool = block_on(sqlx::mysql::MySqlPoolOptions::new().max_connections(1).connect(&url)).unwrap();
        let (start, mut n) = (Instant::now(), 0u64);
        while start.elapsed() < ROUND {
            let v: i32 = block_on(async { sqlx::query_scalar("SELECT 1").fetch_one(&pool).await }).unwrap();
            assert_eq!(v, 1);
            n += 1;
        }
        n as f64 / start.elapsed().as_secs_f64()
    })
}

fn on_tokio_current_thread(url: &str) -> f64 {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let pool = sqlx::mysql::MySqlPoolOptions::new().max_connections(1).connect(url).await.unwrap();
        let (start, mut n) = (Instant::now(), 0u64);
        while start.elapsed() < ROUND {
            let v: i32 = sqlx::query_scalar("SELECT 1").fetch_one(&pool).await.unwrap();
            assert_eq!(v, 1);
            n += 1;
        }
        n as f64 / start.elapsed().as_secs_f64()
    })
}
