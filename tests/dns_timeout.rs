//! A resolver that never answers costs a client request its timeout, not
//! the resolver's own (often 10 s or more).
//!
//! Real: the test runs itself again in a private mount namespace
//! (`unshare -m`, which needs root) whose `/etc/resolv.conf` names a DNS
//! server on 127.0.0.1 that this test runs and that never replies. Where
//! that cannot be set up (not root, no `unshare`, port 53 taken) it says so
//! and passes; the lookup pool's own unit tests still cover the deadline.

use std::net::UdpSocket;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Set in the child run inside the namespace.
const INSIDE: &str = "GREENLOOP_TEST_INSIDE_DNS_NAMESPACE";

#[test]
fn a_resolver_that_never_answers_costs_the_request_its_timeout() {
    if std::env::var_os(INSIDE).is_some() {
        return inside();
    }
    let dir = std::env::temp_dir().join(format!("greenloop-dns-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let resolv = dir.join("resolv.conf");
    // One attempt that waits 30 s: without a deadline of its own, a lookup takes that long.
    std::fs::write(&resolv, "nameserver 127.0.0.1\noptions timeout:30 attempts:1\n").unwrap();
    let exe = std::env::current_exe().unwrap();
    let out = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c"])
        .arg("mount --bind \"$0\" /etc/resolv.conf && exec \"$@\"")
        .arg(&resolv)
        .arg(&exe)
        .args(["--exact", "a_resolver_that_never_answers_costs_the_request_its_timeout", "--nocapture"])
        .env(INSIDE, "1")
        .output();
    let _ = std::fs::remove_dir_all(&dir);
    let out = match out {
        Ok(out) => out,
        Err(e) => {
            eprintln!("skipped: cannot run unshare: {e}");
            return;
        }
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() && !stdout.contains("running 1 test") {
        eprintln!("skipped: no private mount namespace here ({}): {stderr}", out.status);
        return;
    }
    if stderr.contains("skipped:") || stdout.contains("skipped:") {
        eprintln!("{stdout}{stderr}");
        return;
    }
    assert!(out.status.success(), "inside the namespace:\n{stdout}\n{stderr}");
    assert!(stdout.contains("1 passed"), "{stdout}\n{stderr}");
}

/// In the namespace: a DNS server that reads queries and never replies,
/// and a client request to a name only it could answer.
fn inside() {
    let server = match UdpSocket::bind("127.0.0.1:53") {
        Ok(s) => s,
        Err(e) => {
            println!("skipped: cannot run a DNS server on 127.0.0.1:53: {e}");
            return;
        }
    };
    let queries = Arc::new(AtomicUsize::new(0));
    let seen = queries.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 1500];
        while server.recv_from(&mut buf).is_ok() {
            seen.fetch_add(1, Ordering::SeqCst);
        }
    });
    let start = Instant::now();
    let err = greenloop::run(|| {
        let client = greenloop::http::client::Client::builder().timeout(Duration::from_secs(1)).build();
        client.get("http://never-answers.greenloop.example/").send().expect_err("nobody answers")
    });
    let took = start.elapsed();
    assert!(queries.load(Ordering::SeqCst) > 0, "the resolver asked the silent server (took {took:?}: {err})");
    assert_eq!(err.kind(), std::io::ErrorKind::TimedOut, "{err}");
    assert!(err.to_string().contains("looking up never-answers.greenloop.example"), "{err}");
    assert!(took < Duration::from_secs(5), "a 1 s request timeout took {took:?} with a silent resolver");
}
