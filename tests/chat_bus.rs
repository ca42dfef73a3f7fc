//! `/ws/chat` across instances with `--chat-bus`: two demo processes on
//! free ports, a WebSocket member on each (Python's `websockets` package,
//! installed with pip when missing), over the machine's Redis and NATS.
//! Messages cross both ways and reach the sender's own instance once; with
//! one instance killed, the other keeps serving its members; with the bus
//! itself gone (a private `redis-server` the test stops and restarts),
//! local chat goes on and the instances find each other again.
//!
//! The bus URLs come from `GREENLOOP_TEST_REDIS` and `GREENLOOP_TEST_NATS`
//! (local defaults); a bus that cannot be reached skips the test, or fails
//! it under `CI`.

mod db_services;
mod support;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::demo::Demo;
use support::python::python_has_websockets;

/// Runs `tests/chat_bus_peer.py CHECK BASE...`, which prints "ok" when its checks pass.
fn peer(check: &str, bases: &[String]) {
    python_has_websockets();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/chat_bus_peer.py");
    let out = Command::new("python3").arg(script).arg(check).args(bases).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.trim() == "ok",
        "{check} {bases:?}: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn ws_base(d: &Demo) -> String {
    format!("ws://{}", d.addr())
}

/// What an instance logs once it hears the bus, and once it can publish on it.
const SUBSCRIBED: &str = "chat bus: subscribed to";
const PUBLISHING: &str = "chat bus: publishing on";

/// Waits until `d` has logged every one of `needles` (in any order), also
/// looking at `seen`, the lines it logged before.
fn wait_for_all(d: &Demo, seen: &[String], needles: &[&str], what: &str) {
    let mut missing: Vec<&str> = needles.iter().copied().filter(|n| !seen.iter().any(|l| l.contains(n))).collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !missing.is_empty() {
        let left = deadline.saturating_duration_since(Instant::now());
        let (_, line) =
            d.wait_for_line("chat bus:", left).unwrap_or_else(|| panic!("{what}: never logged {missing:?}"));
        missing.retain(|n| !line.contains(n));
    }
}

/// Starts an instance on the bus and waits until it has subscribed (what
/// is published before that would not reach it) and can publish.
fn instance(bus: &str) -> Demo {
    let d = Demo::start(&["--quiet", "--chat-bus", bus]);
    wait_for_all(&d, &d.before_banner, &[SUBSCRIBED, PUBLISHING], bus);
    d
}

fn two_instances_share_the_room(bus: &str) {
    let a = instance(bus);
    let mut b = instance(bus);
    peer("cross", &[ws_base(&a), ws_base(&b)]);
    // One instance dies: the other keeps serving its own members.
    b.child.kill().unwrap();
    b.child.wait().unwrap();
    peer("local", &[ws_base(&a)]);
    assert_eq!(a.get("/plaintext").0, 200);
}

#[test]
fn chat_crosses_instances_over_redis() {
    let Some(url) = db_services::redis() else { return };
    two_instances_share_the_room(&url);
}

#[test]
fn chat_crosses_instances_over_nats() {
    let Some(url) = db_services::nats() else { return };
    two_instances_share_the_room(&url);
}

#[test]
fn bad_bus_urls_are_refused_at_start() {
    let out = Command::new(support::demo::BIN)
        .args(["--bind", "127.0.0.1:0", "--chat-bus", "amqp://127.0.0.1"])
        .stdout(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not a redis:// or nats:// URL"), "{err}");
}

/// A `redis-server` of the test's own on a free port (the machine's is
/// shared, and this test stops its bus), killed when dropped.
struct PrivateRedis {
    child: Child,
    port: u16,
}

impl PrivateRedis {
    fn start(port: u16) -> PrivateRedis {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        let r = PrivateRedis { child, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not listen on {port}");
            std::thread::sleep(Duration::from_millis(20));
        }
        r
    }

    fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether `redis-server` can run here: installed with apt-get under `CI`
/// when missing, else the test is skipped with a reason.
fn have_redis_server() -> bool {
    let found = || Command::new("redis-server").arg("--version").output().is_ok_and(|o| o.status.success());
    if found() {
        return true;
    }
    if std::env::var_os("CI").is_none() {
        eprintln!("skipped: redis-server is not installed (apt-get install redis-server); CI installs it");
        return false;
    }
    let ok = |c: &mut Command| c.status().is_ok_and(|s| s.success());
    let _ = ok(Command::new("apt-get").args(["update", "-q"]));
    let installed = ok(Command::new("apt-get")
        .args(["install", "-y", "-q", "--no-install-recommends", "redis-server"])
        .env("DEBIAN_FRONTEND", "noninteractive"));
    assert!(installed && found(), "CI is set and redis-server is missing, and apt-get install redis-server failed");
    true
}

#[test]
fn a_lost_bus_leaves_local_chat_working_and_is_found_again() {
    if !have_redis_server() {
        return;
    }
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let redis = PrivateRedis::start(port);
    let bus = format!("redis://127.0.0.1:{}", redis.port);
    let a = instance(&bus);
    redis.stop();
    assert!(
        a.wait_for_line("chat bus: subscription to", Duration::from_secs(20)).is_some(),
        "the lost bus was not logged"
    );
    peer("local", &[ws_base(&a)]);
    // The bus comes back on the same port: the instance subscribes again
    // (by its backoff, at most 5 s apart) and a newcomer shares the room.
    let _redis = PrivateRedis::start(port);
    wait_for_all(&a, &[], &[SUBSCRIBED, PUBLISHING], "the instance after the bus came back");
    let b = instance(&bus);
    peer("cross", &[ws_base(&a), ws_base(&b)]);
}
