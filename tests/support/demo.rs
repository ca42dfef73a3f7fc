//! The demo binary as a user runs it: starts `greenloop`, reads its log
//! lines, and sends it requests.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::raw::exchange;

pub const BIN: &str = env!("CARGO_BIN_EXE_greenloop");

/// A running `greenloop` server, killed when dropped (even if start-up fails).
pub struct Demo {
    pub child: Child,
    /// The TCP address from the banner (`None` on a Unix socket).
    pub addr: Option<SocketAddr>,
    /// Lines logged before the banner.
    pub before_banner: Vec<String>,
    stderr: Receiver<(Instant, String)>,
}

impl Demo {
    /// Starts on a free loopback port with `extra` options.
    pub fn start(extra: &[&str]) -> Demo {
        let mut args = vec!["--bind", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        Demo::spawn(&args)
    }

    pub fn spawn(args: &[&str]) -> Demo {
        Demo::spawn_with_env(args, &[])
    }

    /// [`spawn`](Demo::spawn) with environment variables set for the server.
    pub fn spawn_with_env(args: &[&str], env: &[(&str, &str)]) -> Demo {
        let child = Command::new(BIN)
            .args(args)
            .env("GREENLOOP_LOG", "info")
            .envs(env.iter().copied())
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("start greenloop");
        let mut child = KillOnDrop(Some(child));
        let (tx, rx) = channel();
        let stderr = child.0.as_mut().unwrap().stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send((Instant::now(), line)).is_err() {
                    break;
                }
            }
        });
        let mut seen = Vec::new();
        let banner = loop {
            let (_, line) = rx
                .recv_timeout(Duration::from_secs(20))
                .unwrap_or_else(|_| panic!("no startup banner; stderr so far: {seen:?}"));
            if line.contains("serving on") {
                break line;
            }
            seen.push(line);
        };
        let addr = banner
            .split_whitespace()
            .find_map(|w| w.strip_prefix("http://").or_else(|| w.strip_prefix("https://")))
            .and_then(|a| a.parse().ok());
        Demo { child: child.0.take().unwrap(), addr, before_banner: seen, stderr: rx }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr.expect("a TCP server")
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr())
    }

    /// One GET on a fresh connection: (status, body).
    pub fn get(&self, path: &str) -> (u16, String) {
        let (status, body, _) = self.get_timed(path);
        (status, body)
    }

    /// One GET on a fresh connection: (status, body, how long it took).
    pub fn get_timed(&self, path: &str) -> (u16, String, Duration) {
        let start = Instant::now();
        let s = TcpStream::connect(self.addr()).unwrap();
        let (status, body) = exchange(s, path);
        (status, body, start.elapsed())
    }

    /// `n` GETs of `path` at once, each from its own thread on a fresh
    /// connection; join the handles for (status, body).
    pub fn spawn_gets(&self, n: usize, path: &str) -> Vec<std::thread::JoinHandle<(u16, String)>> {
        (0..n)
            .map(|_| {
                let (addr, path) = (self.addr(), path.to_owned());
                std::thread::spawn(move || exchange(TcpStream::connect(addr).unwrap(), &path))
            })
            .collect()
    }

    /// One GET whose body must be JSON: (status, value, how long it took).
    pub fn get_json(&self, path: &str) -> (u16, Value, Duration) {
        let (status, body, took) = self.get_timed(path);
        let v = serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: not JSON ({e}): {body:?}"));
        (status, v, took)
    }

    /// Waits for a stderr line containing `needle`: (when it was read, the line).
    pub fn wait_for_line(&self, needle: &str, within: Duration) -> Option<(Instant, String)> {
        let deadline = Instant::now() + within;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.stderr.recv_timeout(left) {
                Ok((t, line)) if line.contains(needle) => return Some((t, line)),
                Ok(_) => continue,
                Err(_) => return None,
            }
        }
        None
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct KillOnDrop(Option<Child>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(c) = self.0.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
