//! `greenloop swarm URL --users N --duration S`: a headless load generator.
//!
//! N green users on one event loop share one keep-alive client. Each sends
//! `GET URL`, reads the whole response, and sends the next, until the
//! duration is over (a request in flight then is allowed to finish). This is
//! what locust or k6 do with one process; here a user costs a green thread,
//! not an OS thread, so 10 users on a view that waits 1 s make about 10
//! requests per second, and show whether the server serialises them.

use std::cell::{Cell, RefCell};
use std::io;
use std::process::ExitCode;
use std::rc::Rc;
use std::time::{Duration, Instant};

use greenloop::http::Client;

use crate::cli::SwarmOptions;

/// Distinct error messages kept to show at the end.
const MAX_ERROR_KINDS: usize = 5;

/// What the users have done so far (loop-local; no borrow is held across a park).
#[derive(Default)]
struct Stats {
    /// Requests finished, successful or not.
    requests: Cell<u64>,
    /// Requests that failed or answered with a status >= 400.
    errors: Cell<u64>,
    /// Latency of every successful request.
    latencies: RefCell<Vec<Duration>>,
    /// The first few distinct error messages, with how often each happened.
    error_kinds: RefCell<Vec<(String, u64)>>,
}

impl Stats {
    fn success(&self, latency: Duration) {
        self.requests.set(self.requests.get() + 1);
        self.latencies.borrow_mut().push(latency);
    }

    fn failure(&self, message: String) {
        self.requests.set(self.requests.get() + 1);
        self.errors.set(self.errors.get() + 1);
        let mut kinds = self.error_kinds.borrow_mut();
        if let Some(kind) = kinds.iter_mut().find(|(m, _)| *m == message) {
            kind.1 += 1;
        } else if kinds.len() < MAX_ERROR_KINDS {
            kinds.push((message, 1));
        }
    }
}

/// The end result of a run.
struct Summary {
    requests: u64,
    errors: u64,
    elapsed: Duration,
    /// Sorted latencies of the successful requests.
    latencies: Vec<Duration>,
    error_kinds: Vec<(String, u64)>,
}

/// Runs the load test and prints its summary; the exit code is 1 when no
/// request succeeded.
pub fn run(o: &SwarmOptions) -> ExitCode {
    eprintln!(
        "greenloop swarm: {} user{} on GET {} for {:.1} s",
        o.users,
        if o.users == 1 { "" } else { "s" },
        o.url,
        o.duration.as_secs_f64()
    );
    // No watchdog: a load generator's loop has nobody else to starve.
    let rt = match greenloop::Builder::new().watchdog(None).build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("greenloop swarm: cannot start the event loop: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (url, users, duration, timeout) = (o.url.clone(), o.users, o.duration, o.timeout);
    let summary = rt.run(move || swarm(url, users, duration, timeout));
    print!("{}", report(&summary));
    for (message, count) in &summary.error_kinds {
        eprintln!("greenloop swarm: {count} x {message}");
    }
    if summary.requests > summary.errors {
        ExitCode::SUCCESS
    } else {
        eprintln!("greenloop swarm: no request succeeded");
        ExitCode::FAILURE
    }
}

/// The load test itself, on a green thread.
fn swarm(url: String, users: usize, duration: Duration, timeout: Duration) -> Summary {
    // Enough idle connections for every user, so none is closed and reopened.
    let client = Client::builder().max_idle_per_host(users).timeout(timeout).build();
    let stats = Rc::new(Stats::default());
    let url: Rc<str> = url.into();
    let start = Instant::now();
    let deadline = start + duration;
    let (done_tx, done_rx) = greenloop::sync::oneshot::channel::<()>();
    let progress = {
        let stats = stats.clone();
        greenloop::spawn(move || report_progress(&stats, start, &done_rx))
    };
    let handles: Vec<_> = (0..users)
        .map(|_| {
            let (client, stats, url) = (client.clone(), stats.clone(), url.clone());
            greenloop::spawn(move || user(&client, &url, deadline, &stats))
        })
        .collect();
    for h in handles {
        if let Err(e) = h.join() {
            stats.failure(format!("a user's green thread failed: {e}"));
        }
    }
    let elapsed = start.elapsed();
    let _ = done_tx.send(());
    let _ = progress.join();
    let mut latencies = std::mem::take(&mut *stats.latencies.borrow_mut());
    latencies.sort_unstable();
    Summary {
        requests: stats.requests.get(),
        errors: stats.errors.get(),
        elapsed,
        latencies,
        error_kinds: std::mem::take(&mut *stats.error_kinds.borrow_mut()),
    }
}

/// One user: requests `url` back to back until `deadline`.
fn user(client: &Client, url: &str, deadline: Instant, stats: &Stats) {
    while Instant::now() < deadline {
        let sent = Instant::now();
        let outcome = client.get(url).send().and_then(|mut res| {
            // Read the body to the end so the connection goes back to the pool.
            io::copy(&mut res, &mut io::sink())?;
            Ok(res.status())
        });
        match outcome {
            Ok(status) if status.as_u16() < 400 => stats.success(sent.elapsed()),
            Ok(status) => stats.failure(format!("status {status}")),
            Err(e) => stats.failure(e.to_string()),
        }
    }
}

/// Prints a progress line to stderr once a second until `done` fires.
fn report_progress(stats: &Stats, start: Instant, done: &greenloop::sync::oneshot::Receiver<()>) {
    let mut tick = 1u32;
    let mut last = 0u64;
    loop {
        let next = start + Duration::from_secs(tick.into());
        if done.recv_timeout(next.saturating_duration_since(Instant::now())).is_ok() {
            return;
        }
        let requests = stats.requests.get();
        eprintln!(
            "[{:>5.1}s] requests {requests:>8}  errors {:>6}  current {:>9.1} req/s",
            start.elapsed().as_secs_f64(),
            stats.errors.get(),
            (requests - last) as f64,
        );
        last = requests;
        tick += 1;
    }
}

/// The summary printed to stdout: one `key: value` line each.
fn report(s: &Summary) -> String {
    let secs = s.elapsed.as_secs_f64();
    let rate = if secs > 0.0 { s.requests as f64 / secs } else { 0.0 };
    let mut out = format!("requests: {}\nerrors: {}\nelapsed: {secs:.2} s\nreq/s: {rate:.2}\n", s.requests, s.errors);
    for (name, p) in [("p50", 50.0), ("p90", 90.0), ("p99", 99.0), ("max", 100.0)] {
        let value = percentile(&s.latencies, p)
            .map_or_else(|| "-".to_owned(), |d| format!("{:.1} ms", d.as_secs_f64() * 1000.0));
        out.push_str(&format!("latency {name}: {value}\n"));
    }
    out
}

/// The nearest-rank percentile `p` (0..=100) of sorted `values`.
fn percentile(sorted: &[Duration], p: f64) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let ms: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&ms, 50.0), Some(Duration::from_millis(50)));
        assert_eq!(percentile(&ms, 99.0), Some(Duration::from_millis(99)));
        assert_eq!(percentile(&ms, 100.0), Some(Duration::from_millis(100)));
        assert_eq!(percentile(&ms[..1], 90.0), Some(Duration::from_millis(1)));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn summary_lines() {
        let s = Summary {
            requests: 30,
            errors: 1,
            elapsed: Duration::from_secs(3),
            latencies: vec![Duration::from_millis(1000); 29],
            error_kinds: Vec::new(),
        };
        let text = report(&s);
        assert!(text.contains("requests: 30\n"), "{text}");
        assert!(text.contains("errors: 1\n"), "{text}");
        assert!(text.contains("req/s: 10.00\n"), "{text}");
        assert!(text.contains("latency p99: 1000.0 ms\n"), "{text}");
    }
}
