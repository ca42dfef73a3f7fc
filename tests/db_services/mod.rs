//! Finding the Postgres, Redis and NATS servers the database tests run against.
//!
//! Each URL comes from an environment variable with the local default.
//! When a server cannot be reached the test prints why and passes without
//! running (a laptop without the services), except under `CI`, where a
//! missing service fails the run.
#![allow(dead_code)]

use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

pub const POSTGRES_VAR: &str = "GREENLOOP_TEST_POSTGRES";
pub const REDIS_VAR: &str = "GREENLOOP_TEST_REDIS";
pub const NATS_VAR: &str = "GREENLOOP_TEST_NATS";

/// The Postgres URL, or `None` (after saying why) if the server is not reachable.
pub fn postgres() -> Option<String> {
    let url = std::env::var(POSTGRES_VAR).unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    reachable("Postgres", POSTGRES_VAR, &url, host_port(&url, "postgres://", 5432))
}

/// The Redis URL, or `None` (after saying why) if the server is not reachable.
pub fn redis() -> Option<String> {
    let url = std::env::var(REDIS_VAR).unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    reachable("Redis", REDIS_VAR, &url, host_port(&url, "redis://", 6379))
}

/// The NATS URL, or `None` (after saying why) if the server is not reachable.
pub fn nats() -> Option<String> {
    let url = std::env::var(NATS_VAR).unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
    reachable("NATS", NATS_VAR, &url, host_port(&url, "nats://", 4222))
}

/// `host:port` of a `scheme://[user@]host[:port][/...]` URL.
fn host_port(url: &str, scheme: &str, default_port: u16) -> Option<String> {
    let rest = url.strip_prefix(scheme)?;
    let authority = rest.split(['/', '?']).next()?;
    let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if hostport.is_empty() {
        return None;
    }
    Some(if hostport.contains(':') { hostport.to_owned() } else { format!("{hostport}:{default_port}") })
}

fn reachable(what: &str, var: &str, url: &str, addr: Option<String>) -> Option<String> {
    let Some(addr) = addr else { return Some(url.to_owned()) };
    let ok = addr
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .is_some_and(|a| TcpStream::connect_timeout(&a, Duration::from_secs(2)).is_ok());
    if ok {
        return Some(url.to_owned());
    }
    let why = format!("{what} is not reachable at {addr} (set {var} to its URL)");
    if std::env::var_os("CI").is_some() {
        panic!("{why}; CI requires it");
    }
    eprintln!("skipped: {why}");
    None
}

/// The demo binary, started with database options, killed when dropped.
pub struct Demo {
    child: std::process::Child,
    pub addr: std::net::SocketAddr,
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Demo {
    /// Starts `greenloop` on a free port with one worker and `extra` options.
    pub fn start(extra: &[&str]) -> Demo {
        use std::io::BufRead;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_greenloop"))
            .args(["--bind", "127.0.0.1:0", "--workers", "1", "--quiet"])
            .args(extra)
            .env("GREENLOOP_LOG", "info")
            // Every fault these tests cause lasts 300 ms or more, so a loop
            // blocked by one would pass 250 ms; the default 20 ms would also
            // report a worker merely preempted on a loaded CI machine.
            .env("GREENLOOP_WATCHDOG_MS", "250")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start greenloop");
        let stderr = child.stderr.take().unwrap();
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("serving on") {
                    let _ = tx.send(line.clone());
                }
                sink.lock().unwrap().push(line);
            }
        });
        let banner = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(b) => b,
            Err(_) => {
                let _ = child.kill();
                panic!("no start-up banner; log: {:?}", log.lock().unwrap());
            }
        };
        let addr = banner
            .split_whitespace()
            .find_map(|w| w.strip_prefix("http://"))
            .and_then(|a| a.parse().ok())
            .expect("an address in the banner");
        Demo { child, addr, log }
    }

    /// Sends SIGTERM; whether the server exited within `within`.
    pub fn terminate(&mut self, within: Duration) -> bool {
        let pid = self.child.id().to_string();
        let _ = std::process::Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = std::time::Instant::now() + within;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// Every line the server logged so far.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// Asserts the watchdog never saw the loop held.
    pub fn assert_loop_never_blocked(&self) {
        let log = self.log();
        assert!(!log.iter().any(|l| l.contains("held the loop")), "the watchdog saw the loop blocked: {log:#?}");
    }

    /// One request on a fresh connection: (status, body, time taken).
    pub fn request(&self, method: &str, path: &str) -> (u16, String, Duration) {
        let start = std::time::Instant::now();
        let mut s = TcpStream::connect(self.addr).expect("connect to the demo");
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let (status, body) = exchange(&mut s, method, path);
        (status, body, start.elapsed())
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sends one `Connection: close` request on `s` and reads the whole answer.
pub fn exchange<S: std::io::Read + std::io::Write>(s: &mut S, method: &str, path: &str) -> (u16, String) {
    let req = format!("{method} {path} HTTP/1.1\r\nHost: test\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).expect("send the request");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read the response");
    let text = String::from_utf8_lossy(&raw);
    let status = text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}
