//! Finding the Postgres and Redis servers the database tests run against.
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
