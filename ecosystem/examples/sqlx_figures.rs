//! The figures of docs/ECOSYSTEM.md for sqlx on MariaDB:
//!
//! 1. `SELECT 1` per second, one query in flight, on one greenloop worker
//!    through `block_on` (tokio's drivers on their own thread, the default;
//!    and on the loop, `Builder::tokio_on_loop`), and the same loop on
//!    tokio's own current-thread runtime,
//!    alternated in one run (the machine is noisy: `SQLX_ROUNDS`, default
//!    3, rounds of `SQLX_ROUND_MS`, default 3000; the medians and the
//!    median of each round's ratio are printed). Beside queries/s, which
//!    the machine's load swings, each variant's CPU time and thread
//!    switches per query (the whole process: the loop, tokio's threads),
//!    which it does not.
//! 2. 1000 concurrent `SELECT SLEEP(1)` on one worker through a pool of
//!    100: the wall time (the pool's bound is 10 s) and the watchdog's
//!    incidents on the loop (0: the loop was never held).
//!
//! `cargo run --release -p greenloop-ecosystem --example sqlx_figures`
//! (`GREENLOOP_TEST_MYSQL` overrides the URL).

use std::time::{Duration, Instant};

use greenloop::block_on;

/// CPU time and thread switches of the whole process so far, from /proc.
#[derive(Clone, Copy, Debug)]
struct Usage {
    cpu: Duration,
    switches: u64,
}

impl Usage {
    fn now() -> Usage {
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
        // Fields after the command name (which may hold spaces): utime is
        // the 14th field, stime the 15th, in clock ticks (100 per second).
        let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let f: Vec<u64> = after.split_whitespace().map(|x| x.parse().unwrap_or(0)).collect();
        let ticks = f.get(11).copied().unwrap_or(0) + f.get(12).copied().unwrap_or(0);
        let mut switches = 0;
        if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
            for t in tasks.flatten() {
                let status = std::fs::read_to_string(t.path().join("status")).unwrap_or_default();
                for line in status.lines() {
                    if line.starts_with("voluntary_ctxt_switches") || line.starts_with("nonvoluntary_ctxt_switches") {
                        switches += line.split_whitespace().nth(1).and_then(|n| n.parse::<u64>().ok()).unwrap_or(0);
                    }
                }
            }
        }
        Usage { cpu: Duration::from_millis(ticks * 10), switches }
    }

    /// CPU µs and switches per query since `self`, for `queries` queries.
    fn per_query(self, queries: u64) -> (f64, f64) {
        let now = Usage::now();
        let q = queries.max(1) as f64;
        ((now.cpu - self.cpu).as_secs_f64() * 1e6 / q, now.switches.saturating_sub(self.switches) as f64 / q)
    }
}

/// One variant's round: queries/s, CPU µs per query, switches per query.
#[derive(Clone, Copy, Debug)]
struct Round {
    rate: f64,
    cpu_us: f64,
    switches: f64,
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|s| s.parse().ok()).unwrap_or(default)
}

fn main() {
    let Some(url) = greenloop_ecosystem::MYSQL.url() else { return };
    let rounds = env_number("SQLX_ROUNDS", 3) as usize;
    let round = Duration::from_millis(env_number("SQLX_ROUND_MS", 3000));
    println!("SELECT 1, one in flight, {round:?} rounds (queries/s):");
    let mut all: [Vec<Round>; 3] = [Vec::new(), Vec::new(), Vec::new()];
    let (mut ratios, mut ratios_on_loop) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let b = through_the_bridge(&url, round, false);
        let l = through_the_bridge(&url, round, true);
        let n = on_tokio_current_thread(&url, round);
        println!(
            "  block_on: {:>6.0}/s {:>5.1} µs {:.2} sw   block_on, tokio on the loop: {:>6.0}/s {:>5.1} µs {:.2} sw   tokio current_thread: {:>6.0}/s {:>5.1} µs {:.2} sw",
            b.rate, b.cpu_us, b.switches, l.rate, l.cpu_us, l.switches, n.rate, n.cpu_us, n.switches
        );
        for (v, r) in all.iter_mut().zip([b, l, n]) {
            v.push(r);
        }
        ratios.push(b.rate / n.rate);
        ratios_on_loop.push(l.rate / n.rate);
    }
    let names = ["greenloop block_on", "greenloop block_on, tokio on the loop", "tokio current_thread"];
    for (name, v) in names.iter().zip(all.iter()) {
        let pick = |f: fn(&Round) -> f64| median(&mut v.iter().map(f).collect::<Vec<_>>());
        println!(
            "median {name}: {:.0} queries/s, {:.1} µs CPU and {:.2} thread switches per query",
            pick(|r| r.rate),
            pick(|r| r.cpu_us),
            pick(|r| r.switches)
        );
    }
    println!(
        "median of the rounds' ratios of queries/s to tokio's: {:.2} (default), {:.2} (tokio on the loop)",
        median(&mut ratios),
        median(&mut ratios_on_loop)
    );

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

/// `on_loop`: the loop drives a tokio runtime of its own (`Builder::tokio_on_loop`).
fn through_the_bridge(url: &str, round: Duration, on_loop: bool) -> Round {
    let url = url.to_owned();
    greenloop::Builder::new().tokio_on_loop(on_loop).build().unwrap().run(move || {
        let pool = block_on(sqlx::mysql::MySqlPoolOptions::new().max_connections(1).connect(&url)).unwrap();
        let (usage, start, mut n) = (Usage::now(), Instant::now(), 0u64);
        while start.elapsed() < round {
            let v: i32 = block_on(async { sqlx::query_scalar("SELECT 1").fetch_one(&pool).await }).unwrap();
            assert_eq!(v, 1);
            n += 1;
        }
        let rate = n as f64 / start.elapsed().as_secs_f64();
        let (cpu_us, switches) = usage.per_query(n);
        Round { rate, cpu_us, switches }
    })
}

fn on_tokio_current_thread(url: &str, round: Duration) -> Round {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let pool = sqlx::mysql::MySqlPoolOptions::new().max_connections(1).connect(url).await.unwrap();
        let (usage, start, mut n) = (Usage::now(), Instant::now(), 0u64);
        while start.elapsed() < round {
            let v: i32 = sqlx::query_scalar("SELECT 1").fetch_one(&pool).await.unwrap();
            assert_eq!(v, 1);
            n += 1;
        }
        let rate = n as f64 / start.elapsed().as_secs_f64();
        let (cpu_us, switches) = usage.per_query(n);
        Round { rate, cpu_us, switches }
    })
}
