//! The offload pool's queue is bounded, and host-name lookups do not wait
//! behind user work in it. This file runs in a process of its own with a
//! small pool (2 threads, 4 queued jobs) set before any offload.

use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, Once};
use std::time::{Duration, Instant};

use greenloop::http::{Router, Server, get};

fn small_pool() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: runs once, before this process starts any thread that
        // reads the environment (the pool reads it on first use, later).
        unsafe {
            std::env::set_var("GREENLOOP_OFFLOAD_THREADS", "2");
            std::env::set_var("GREENLOOP_OFFLOAD_QUEUE", "4");
        }
    });
}

/// Held shut until the test opens it: offloaded jobs that wait on it keep
/// their pool thread.
static GATE: (Mutex<bool>, Condvar) = (Mutex::new(false), Condvar::new());

fn wait_at_gate() {
    let (open, cv) = &GATE;
    let mut open = open.lock().unwrap();
    while !*open {
        open = cv.wait(open).unwrap();
    }
}

fn open_gate() {
    *GATE.0.lock().unwrap() = true;
    GATE.1.notify_all();
}

/// Parks (green) until `cond` holds, for at most 10 s.
fn wait_for(what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}: {:?}", greenloop::inspect::offload_stats());
        greenloop::sleep(Duration::from_millis(5));
    }
}

/// `GET path` over a green socket: the response's text.
fn get_text(addr: std::net::SocketAddr, path: &str) -> String {
    let mut s = greenloop::net::TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// The value of sample `name` in Prometheus text.
fn sample(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {text}"))
}

#[test]
fn a_full_queue_parks_callers_in_line_lookups_go_around_it_and_metrics_show_it() {
    small_pool();
    let server = Server::bind("127.0.0.1:0")
        .workers(1)
        .start(
            Router::new()
                .route("/metrics", get(greenloop::http::metrics::handler))
                .route("/hello", get(|_req: greenloop::http::Request| "hello")),
        )
        .unwrap();
    let addr = server.local_addr().unwrap();
    greenloop::run(move || {
        // Two jobs hold both pool threads, four fill the queue.
        let held: Vec<_> = (0..6).map(|_| greenloop::spawn(|| greenloop::offload(wait_at_gate))).collect();
        wait_for("2 busy, 4 queued", || {
            let s = greenloop::inspect::offload_stats();
            s.busy == 2 && s.queued == 4
        });
        // The next caller parks for room; the loop goes on.
        let parked = greenloop::spawn(|| greenloop::offload(|| 7));
        wait_for("one waiter", || greenloop::inspect::offload_stats().waiting == 1);
        let stats = greenloop::inspect::offload_stats();
        assert_eq!((stats.queued, stats.capacity, stats.waiting), (4, 4, 1), "{stats:?}");

        // A timeout bounds the wait; the job never runs.
        static RAN: AtomicBool = AtomicBool::new(false);
        let t = Instant::now();
        let r =
            greenloop::timeout(Duration::from_millis(100), || greenloop::offload(|| RAN.store(true, Ordering::SeqCst)));
        assert!(r.is_err(), "the wait for room ends at the timeout");
        assert!(t.elapsed() < Duration::from_secs(2), "took {:?}", t.elapsed());
        assert_eq!(greenloop::inspect::offload_stats().waiting, 1, "the timed-out waiter left the line");

        // /metrics shows the full queue and the waiter.
        let metrics = get_text(addr, "/metrics");
        assert_eq!(sample(&metrics, "greenloop_offload_queue_depth"), 4.0);
        assert_eq!(sample(&metrics, "greenloop_offload_queue_capacity"), 4.0);
        assert_eq!(sample(&metrics, "greenloop_offload_waiting"), 1.0);
        assert!(sample(&metrics, "greenloop_offload_waits_total") >= 2.0);

        // Host-name lookups do not queue behind that work: a lookup, and a
        // client request to a name, answer at once.
        // (The scope turns a lookup stuck in the offload queue into a failure.)
        let t = Instant::now();
        let lookups = greenloop::timeout(Duration::from_secs(10), || {
            let addrs = greenloop::net::resolve_timeout(&format!("localhost:{}", addr.port()), Duration::from_secs(5))
                .expect("localhost resolves while the offload pool is saturated");
            assert!(!addrs.is_empty());
            let client = greenloop::http::client::Client::builder().timeout(Duration::from_secs(5)).build();
            let res =
                client.get(format!("http://localhost:{}/hello", addr.port())).send().expect("the request succeeds");
            assert_eq!(res.status(), 200);
        });
        assert!(lookups.is_ok(), "lookups waited behind the saturated offload pool");
        assert!(t.elapsed() < Duration::from_secs(3), "took {:?} behind saturated offload work", t.elapsed());

        // Room again: everyone finishes, nobody deadlocked.
        open_gate();
        for h in held {
            h.join().unwrap();
        }
        assert_eq!(parked.join().unwrap(), 7);
        assert!(!RAN.load(Ordering::SeqCst), "the timed-out job never ran");
        let stats = greenloop::inspect::offload_stats();
        assert_eq!((stats.queued, stats.waiting), (0, 0), "{stats:?}");
    });
    server.stop().unwrap();
}
