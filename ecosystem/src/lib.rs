//! Shared by the ecosystem tests and benchmarks: where each service is, what
//! a missing one means, and the measurement every test makes (twenty slow
//! requests at once on one worker, and a fast route answering meanwhile).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use greenloop::http::{Request, Router, RunningServer, Server, get};

/// A service a test talks to: its name, the variable overriding its URL, the local default.
#[derive(Clone, Copy, Debug)]
pub struct Service {
    /// What it is, for messages.
    pub name: &'static str,
    /// The environment variable with its URL.
    pub var: &'static str,
    /// Its URL on this machine.
    pub default_url: &'static str,
    /// The port when the URL names none.
    pub default_port: u16,
}

/// MariaDB/MySQL (root, empty password, database `test`).
pub const MYSQL: Service = Service {
    name: "MariaDB",
    var: "GREENLOOP_TEST_MYSQL",
    default_url: "mysql://root@127.0.0.1:3306/test",
    default_port: 3306,
};
/// PostgreSQL (trust auth).
pub const POSTGRES: Service = Service {
    name: "Postgres",
    var: "GREENLOOP_TEST_POSTGRES",
    default_url: "postgres://postgres@127.0.0.1:5432/test",
    default_port: 5432,
};
/// Redis.
pub const REDIS: Service =
    Service { name: "Redis", var: "GREENLOOP_TEST_REDIS", default_url: "redis://127.0.0.1:6379", default_port: 6379 };
/// RabbitMQ (guest/guest).
pub const RABBITMQ: Service = Service {
    name: "RabbitMQ",
    var: "GREENLOOP_TEST_AMQP",
    default_url: "amqp://guest:guest@127.0.0.1:5672/%2f",
    default_port: 5672,
};
/// NATS.
pub const NATS: Service =
    Service { name: "NATS", var: "GREENLOOP_TEST_NATS", default_url: "nats://127.0.0.1:4222", default_port: 4222 };
/// Mosquitto (MQTT).
pub const MQTT: Service =
    Service { name: "Mosquitto", var: "GREENLOOP_TEST_MQTT", default_url: "mqtt://127.0.0.1:1883", default_port: 1883 };

impl Service {
    /// The service's URL, or `None` after saying why when it cannot be
    /// reached; under `CI` a missing service panics instead (fails the test).
    pub fn url(&self) -> Option<String> {
        let url = std::env::var(self.var).unwrap_or_else(|_| self.default_url.to_owned());
        if self.reachable(&url) {
            return Some(url);
        }
        let why = format!("{} is not reachable at {url} (set {} to its URL)", self.name, self.var);
        if std::env::var_os("CI").is_some() {
            panic!("{why}; CI requires it");
        }
        eprintln!("skipped: {why}");
        None
    }

    fn reachable(&self, url: &str) -> bool {
        let Some((_, rest)) = url.split_once("://") else { return false };
        let authority = rest.split(['/', '?']).next().unwrap_or_default();
        let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let hostport =
            if hostport.contains(':') { hostport.to_owned() } else { format!("{hostport}:{}", self.default_port) };
        hostport
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .is_some_and(|a| TcpStream::connect_timeout(&a, Duration::from_secs(2)).is_ok())
    }

    /// `(host, port)` of the URL, for clients configured by parts (MQTT).
    pub fn host_port(url: &str, default_port: u16) -> (String, u16) {
        let rest = url.split_once("://").map_or(url, |(_, r)| r);
        let hostport = rest.split(['/', '?']).next().unwrap_or_default();
        match hostport.rsplit_once(':') {
            Some((h, p)) => (h.to_owned(), p.parse().unwrap_or(default_port)),
            None => (hostport.to_owned(), default_port),
        }
    }
}

/// One request with `Connection: close`: (status, body).
pub fn get_once(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect to the server");
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).expect("send the request");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read the response");
    let text = String::from_utf8_lossy(&raw);
    let status = text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}

/// What [`twenty_at_once`] saw.
#[derive(Debug)]
pub struct Overlap {
    /// From the first request sent to the last answer read.
    pub wall: Duration,
    /// The slowest of the fast route's answers, asked while the slow ones waited.
    pub fast_route: Duration,
    /// Each slow request's (status, body).
    pub answers: Vec<(u16, String)>,
}

impl Overlap {
    /// The bar: twenty ~1 s waits on one worker in at most 1.5 s,
    /// every one a 200, while the fast route answered in under 100 ms.
    pub fn assert_green(&self) {
        eprintln!("20 × ~1 s on one worker: {:?}; /health meanwhile: {:?}", self.wall, self.fast_route);
        for (status, body) in &self.answers {
            assert_eq!(*status, 200, "a slow request failed: {body}");
        }
        assert!(self.wall >= Duration::from_millis(950), "the waits did not wait: {self:?}");
        assert!(self.wall <= Duration::from_millis(1500), "20 × 1 s took {:?} on one worker", self.wall);
        assert!(self.fast_route < Duration::from_millis(100), "/health took {:?} meanwhile", self.fast_route);
    }
}

/// Starts `server` (one worker) serving `slow` at `/slow` (its query string
/// passed on: `?i=N`) and a fast `/health`, sends twenty `/slow` at once and,
/// while they wait, `/health` three times; stops the server.
pub fn twenty_at_once(
    server: Server,
    slow: impl Fn(usize) -> Result<String, String> + Send + Sync + 'static,
) -> Overlap {
    let router = Router::new()
        .route(
            "/slow",
            get(move |req: Request| {
                let i = req.uri().query().and_then(|q| q.strip_prefix("i=")).and_then(|n| n.parse().ok()).unwrap_or(0);
                match slow(i) {
                    Ok(body) => (greenloop::http::StatusCode::OK, body),
                    Err(e) => (greenloop::http::StatusCode::INTERNAL_SERVER_ERROR, e),
                }
            }),
        )
        .route("/health", get(|_req: Request| "ok"));
    let running: RunningServer = server.workers(1).handle_signals(false).start(router).expect("the server starts");
    let addr = running.local_addr().unwrap();
    // One warm-up call: connects pools and clients, so the twenty measure waits, not connects.
    let (status, body) = get_once(addr, "/slow?i=999");
    assert_eq!(status, 200, "the warm-up request failed: {body}");
    let start = Instant::now();
    let clients: Vec<_> =
        (0..20).map(|i| std::thread::spawn(move || get_once(addr, &format!("/slow?i={i}")))).collect();
    std::thread::sleep(Duration::from_millis(300));
    let mut fast_route = Duration::ZERO;
    for _ in 0..3 {
        let t = Instant::now();
        let (status, _) = get_once(addr, "/health");
        assert_eq!(status, 200);
        fast_route = fast_route.max(t.elapsed());
    }
    let answers: Vec<_> = clients.into_iter().map(|c| c.join().unwrap()).collect();
    let wall = start.elapsed();
    running.stop().unwrap();
    Overlap { wall, fast_route, answers }
}

/// A one-worker server answering every request after `greenloop::sleep(1 s)`:
/// the upstream the HTTP clients call.
pub fn slow_upstream(server: Server) -> RunningServer {
    server
        .handle_signals(false)
        .start(Router::new().route(
            "/",
            get(|req: Request| {
                greenloop::sleep(Duration::from_secs(1));
                format!("upstream {}", req.uri().query().unwrap_or_default())
            }),
        ))
        .expect("the upstream starts")
}
