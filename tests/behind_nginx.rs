//! Two demo instances behind a real nginx, as one upstream, restarted one
//! at a time with SIGTERM while keep-alive clients load nginx: no client
//! request may fail. Once with the instances on TCP ports, once on Unix
//! sockets (`--unix-mode 660`). And the chat room through nginx's WebSocket
//! location, two instances sharing it with `--chat-bus` (Redis).
//!
//! Needs: nginx (Debian's `nginx-light` is enough). Without it the test
//! prints why and passes, unless `CI` is set: then it installs
//! `nginx-light` with apt-get (as root), and fails if it cannot.
//! nginx runs as a child of the test with its own configuration, prefix and
//! logs in a temporary directory; nothing system-wide is touched.
//!
//! Run: `cargo test --test behind_nginx -- --nocapture` (the figures are printed).
//! The configuration it writes is the one docs/DEPLOYMENT.md describes.

mod db_services;
mod support;

use std::fs;
use std::io::{BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use support::demo::Demo;
use support::raw::{IO_TIMEOUT, read_response};

/// Keep-alive client connections to nginx, each sending one request after another.
const CLIENTS: usize = 8;
/// More of them, each sending only requests that take 500 ms, so that both
/// instances have requests in flight whenever one is told to stop.
const SLOW_CLIENTS: usize = 4;

/// The nginx binary, installed first when missing and `CI` is set.
fn nginx() -> Option<PathBuf> {
    let find = || {
        ["/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/bin/nginx", "/usr/local/nginx/sbin/nginx"]
            .iter()
            .map(PathBuf::from)
            .find(|p| p.exists())
    };
    if let Some(p) = find() {
        return Some(p);
    }
    // The tests of this file run in parallel: one installs while the others
    // wait for it (two apt-get runs fail on dpkg's lock).
    static INSTALL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _installing = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = find() {
        return Some(p);
    }
    if std::env::var_os("CI").is_none() {
        eprintln!(
            "SKIPPED: nginx is not installed (apt-get install nginx-light); set CI=1 to have this test install it"
        );
        return None;
    }
    eprintln!("nginx missing: installing nginx-light");
    let ok = |c: &mut Command| c.stdin(Stdio::null()).status().is_ok_and(|s| s.success());
    let _ = ok(Command::new("apt-get").args(["update", "-q"]));
    let installed = ok(Command::new("apt-get")
        .args(["install", "-y", "-q", "--no-install-recommends", "nginx-light"])
        .env("DEBIAN_FRONTEND", "noninteractive"));
    assert!(installed, "CI is set and nginx is missing, and apt-get install nginx-light failed");
    Some(find().expect("nginx-light installed but no nginx binary found"))
}

/// A free loopback port (bound and released: free for a moment, long enough here).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A temporary directory removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("greenloop-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// nginx in the foreground with its master process, stopped (SIGQUIT, then
/// SIGKILL) when dropped.
struct Nginx {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Nginx {
    /// nginx proxying to `upstreams` (as in its `server` lines); `user`: its
    /// workers' user and group, when started as root.
    fn start(bin: &Path, dir: &Path, upstreams: &[String], user: Option<&str>) -> Nginx {
        let port = free_port();
        let servers: String =
            upstreams.iter().map(|a| format!("        server {a} max_fails=1 fail_timeout=1s;\n")).collect();
        let user = user.map(|u| format!("user {u};\n")).unwrap_or_default();
        let d = dir.display();
        let conf = format!(
            "\
# Written by tests/behind_nginx.rs; see docs/DEPLOYMENT.md.
{user}daemon off;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log info;
events {{ worker_connections 1024; }}
http {{
    log_format upstream '$status $upstream_addr $upstream_status $request_time \"$request\"';
    access_log {d}/access.log upstream;
    client_body_temp_path {d}/tmp/body;
    proxy_temp_path {d}/tmp/proxy;
    fastcgi_temp_path {d}/tmp/fastcgi;
    uwsgi_temp_path {d}/tmp/uwsgi;
    scgi_temp_path {d}/tmp/scgi;

    map $http_upgrade $connection_upgrade {{
        default upgrade;
        ''      \"\";
    }}

    upstream greenloop {{
{servers}        keepalive 32;
        keepalive_timeout 50s;
    }}
    server {{
        listen 127.0.0.1:{port};
        client_max_body_size 16m;
        location /ws/ {{
            proxy_pass http://greenloop;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_read_timeout 1h;
            proxy_send_timeout 1h;
        }}
        location / {{
            proxy_pass http://greenloop;
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_connect_timeout 2s;
            proxy_next_upstream error timeout;
            proxy_next_upstream_tries 3;
        }}
    }}
}}
"
        );
        fs::create_dir_all(dir.join("tmp")).unwrap();
        fs::write(dir.join("nginx.conf"), conf).unwrap();
        let child = Command::new(bin)
            .arg("-p")
            .arg(dir)
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .arg("-e")
            .arg(dir.join("error.log"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start nginx");
        let mut n = Nginx { child, port, dir: dir.to_owned() };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
                s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
                s.write_all(b"GET /plaintext HTTP/1.1\r\nHost: test\r\n\r\n").unwrap();
                let resp = read_response(&mut BufReader::new(s), false).expect("a response through nginx");
                assert_eq!((resp.status, resp.text().as_str()), (200, "Hello, World!"), "through nginx");
                return n;
            }
            if let Some(status) = n.child.try_wait().unwrap() {
                let mut err = String::new();
                let _ = n.child.stderr.take().unwrap().read_to_string(&mut err);
                panic!("nginx exited with {status}: {err}\n{}", n.error_log());
            }
            assert!(Instant::now() < deadline, "nginx did not listen within 20 s:\n{}", n.error_log());
            thread::sleep(Duration::from_millis(20));
        }
    }

    fn error_log(&self) -> String {
        fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
    }

    fn access_log(&self) -> Vec<String> {
        fs::read_to_string(self.dir.join("access.log")).unwrap_or_default().lines().map(str::to_owned).collect()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: kill(2) on our own child, not yet reaped.
        unsafe { libc::kill(pid, libc::SIGQUIT) };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the clients saw.
#[derive(Default)]
struct Tally {
    ok: AtomicUsize,
    failures: Mutex<Vec<String>>,
}

/// One keep-alive client of nginx: requests in a loop until `stop`.
fn load(port: u16, id: usize, stop: Arc<AtomicBool>, tally: Arc<Tally>) {
    let paths: [(&str, &str); 3] =
        [("/plaintext", "Hello, World!"), ("/sleep?ms=20", "slept"), ("/sleep?ms=500", "slept")];
    let mut conn: Option<(TcpStream, BufReader<TcpStream>)> = None;
    let mut i = id;
    while !stop.load(Ordering::Relaxed) {
        i += 1;
        // Mostly quick requests; the slow clients' are still running when a restart begins.
        let (path, expect) = paths[if id >= CLIENTS { 2 } else { i % 2 }];
        let (w, r) = conn.get_or_insert_with(|| {
            let s = TcpStream::connect(("127.0.0.1", port)).expect("connect to nginx");
            s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
            (s.try_clone().unwrap(), BufReader::new(s))
        });
        let sent = w.write_all(format!("GET {path} HTTP/1.1\r\nHost: test\r\nX-Client: {id}\r\n\r\n").as_bytes());
        let result = sent.map_err(|e| e.to_string()).and_then(|()| read_response(r, false).map_err(|e| e.to_string()));
        match result {
            Ok(resp) if resp.status == 200 && resp.text() == expect => {
                tally.ok.fetch_add(1, Ordering::Relaxed);
                if resp.closes() {
                    conn = None;
                }
            }
            Ok(resp) => {
                tally.failures.lock().unwrap().push(format!("GET {path}: {} {:?}", resp.status, resp.text()));
                conn = None;
            }
            Err(e) => {
                tally.failures.lock().unwrap().push(format!("GET {path}: {e}"));
                conn = None;
            }
        }
    }
}

/// Where an instance listens.
#[derive(Clone)]
enum Place {
    Tcp(SocketAddr),
    /// A Unix socket, created with mode 660 so that nginx's workers (in the
    /// socket's group) can open it.
    Unix(PathBuf),
}

impl Place {
    /// The place as nginx writes it in `server` lines and `$upstream_addr`.
    fn upstream(&self) -> String {
        match self {
            Place::Tcp(a) => a.to_string(),
            Place::Unix(p) => format!("unix:{}", p.display()),
        }
    }

    /// Starts the demo here (a TCP port just released may still be held for
    /// a moment by the exiting process).
    fn start(&self) -> Demo {
        match self {
            Place::Tcp(addr) => {
                let deadline = Instant::now() + Duration::from_secs(10);
                while let Err(e) = TcpListener::bind(addr) {
                    assert!(Instant::now() < deadline, "port {addr} still busy: {e}");
                    thread::sleep(Duration::from_millis(20));
                }
                Demo::spawn(&["--bind", &addr.to_string(), "--quiet", "--workers", "2"])
            }
            Place::Unix(path) => {
                let path = path.to_str().unwrap();
                Demo::spawn(&["--unix", path, "--unix-mode", "660", "--quiet", "--workers", "2"])
            }
        }
    }
}

/// Requests nginx logged as answered by `upstream` (alone, first try) from line `from` on.
fn served_by(nginx: &Nginx, upstream: &str, from: usize) -> usize {
    nginx.access_log().iter().skip(from).filter(|l| l.split(' ').nth(1) == Some(upstream)).count()
}

/// Starts an instance at each place and nginx in front of them, loads
/// nginx, restarts the instances one at a time with SIGTERM, and asserts
/// that no request failed.
fn rolling_restart(bin: &Path, dir: &Path, places: &[Place], user: Option<&str>) {
    let mut demos: Vec<Demo> = places.iter().map(Place::start).collect();
    let upstreams: Vec<String> = places.iter().map(Place::upstream).collect();
    let nginx = Nginx::start(bin, dir, &upstreams, user);

    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Tally::default());
    let clients: Vec<_> = (0..CLIENTS + SLOW_CLIENTS)
        .map(|id| {
            let (stop, tally, port) = (stop.clone(), tally.clone(), nginx.port);
            thread::spawn(move || load(port, id, stop, tally))
        })
        .collect();
    let began = Instant::now();

    // Both instances serve before the first restart.
    let wait_served = |upstream: &str, from: usize, what: &str| {
        let deadline = Instant::now() + Duration::from_secs(20);
        while served_by(&nginx, upstream, from) < 200 {
            assert!(Instant::now() < deadline, "{what}: {upstream} served under 200 requests in 20 s");
            thread::sleep(Duration::from_millis(20));
        }
    };
    for u in &upstreams {
        wait_served(u, 0, "before the restarts");
    }

    let mut drains = Vec::new();
    for (k, place) in places.iter().enumerate() {
        let signal = Instant::now();
        // SAFETY: kill(2) on our own child, not yet reaped.
        assert_eq!(unsafe { libc::kill(demos[k].child.id() as libc::pid_t, libc::SIGTERM) }, 0);
        let deadline = signal + Duration::from_secs(40);
        let status = loop {
            if let Some(s) = demos[k].child.try_wait().unwrap() {
                break s;
            }
            assert!(Instant::now() < deadline, "instance {k} did not exit within 40 s of SIGTERM");
            thread::sleep(Duration::from_millis(10));
        };
        assert!(status.success(), "instance {k} exited with {status} after SIGTERM");
        drains.push(signal.elapsed());
        if let Place::Unix(path) = place {
            assert!(!path.exists(), "{} left behind after a clean exit", path.display());
        }
        let from = nginx.access_log().len();
        demos[k] = place.start();
        // The replacement takes traffic again before the next instance goes.
        wait_served(&upstreams[k], from, "after its restart");
    }
    thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().expect("a load client panicked");
    }
    let elapsed = began.elapsed();

    let ok = tally.ok.load(Ordering::Relaxed);
    let failures = tally.failures.lock().unwrap();
    let log = nginx.access_log();
    let retried = log.iter().filter(|l| l.split(' ').nth(1).is_some_and(|u| u.ends_with(','))).count();
    let error_log = nginx.error_log();
    let upstream_errors: Vec<&str> = error_log.lines().filter(|l| l.contains("upstream")).collect();
    for l in &upstream_errors {
        eprintln!("nginx: {l}");
    }
    let upstream_errors = upstream_errors.len();
    eprintln!(
        "{ok} requests answered through nginx in {elapsed:.1?} ({} failed); instances drained in {drains:?}; \
         nginx retried {retried} requests on the other instance and logged {upstream_errors} upstream errors",
        failures.len()
    );
    assert!(failures.is_empty(), "{} failed requests:\n{}", failures.len(), failures.join("\n"));
    let not_200: Vec<_> = log.iter().filter(|l| !l.starts_with("200 ")).collect();
    assert!(not_200.is_empty(), "nginx answered other than 200:\n{not_200:#?}");
    assert!(ok >= 1000, "only {ok} requests in {elapsed:?}: the load did not run");
}

#[test]
fn rolling_restart_behind_nginx_fails_no_request() {
    let Some(bin) = nginx() else { return };
    let dir = TempDir::new("nginx-tcp");
    let places: Vec<Place> = (0..2).map(|_| Place::Tcp(SocketAddr::from(([127, 0, 0, 1], free_port())))).collect();
    rolling_restart(&bin, &dir.0, &places, None);
}

#[test]
fn rolling_restart_behind_nginx_over_unix_sockets_fails_no_request() {
    let Some(bin) = nginx() else { return };
    let dir = TempDir::new("nginx-unix");
    let sockets = dir.0.join("sockets");
    fs::create_dir(&sockets).unwrap();
    // As root, nginx's workers run as nobody:nogroup (set explicitly below),
    // not as the server's user: as in docs/DEPLOYMENT.md, the sockets live in
    // a setgid directory of the workers' group, and mode 660 lets them in.
    // As another user, nginx's workers are that user and need nothing more.
    // SAFETY: geteuid has no preconditions.
    let user = if unsafe { libc::geteuid() } == 0 {
        // SAFETY: getgrnam with a NUL-terminated name; the result is read at once.
        let group = unsafe { libc::getgrnam(c"nogroup".as_ptr()) };
        assert!(!group.is_null(), "no group nogroup");
        // SAFETY: non-null result of getgrnam, read before any other call.
        let gid = unsafe { (*group).gr_gid };
        std::os::unix::fs::chown(&sockets, None, Some(gid)).unwrap();
        fs::set_permissions(&sockets, fs::Permissions::from_mode(0o2750)).unwrap();
        // The workers must reach the directory through its parent too.
        fs::set_permissions(&dir.0, fs::Permissions::from_mode(0o755)).unwrap();
        Some("nobody nogroup")
    } else {
        None
    };
    let places = [Place::Unix(sockets.join("a.sock")), Place::Unix(sockets.join("b.sock"))];
    rolling_restart(&bin, &dir.0, &places, user);
}

#[test]
fn chat_spans_two_instances_behind_nginx() {
    let Some(bin) = nginx() else { return };
    let Some(bus) = db_services::redis() else { return };
    let dir = TempDir::new("nginx-chat");
    let demos: Vec<Demo> = (0..2)
        .map(|_| {
            let d = Demo::start(&["--quiet", "--chat-bus", &bus]);
            let subscribed = |l: &String| l.contains("chat bus: subscribed to");
            if !d.before_banner.iter().any(subscribed) {
                d.wait_for_line("chat bus: subscribed to", Duration::from_secs(20)).expect("subscribed to the bus");
            }
            d
        })
        .collect();
    let upstreams: Vec<String> = demos.iter().map(|d| d.addr().to_string()).collect();
    let nginx = Nginx::start(&bin, &dir.0, &upstreams, None);
    // Both members through nginx, on different instances (the peer
    // reconnects the second until nginx's round robin puts it elsewhere).
    let base = format!("ws://127.0.0.1:{}", nginx.port);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/chat_bus_peer.py");
    let ok = Command::new("python3").args(["-c", "import websockets"]).status().is_ok_and(|s| s.success());
    if !ok {
        let s = Command::new("python3").args(["-m", "pip", "install", "-q", "websockets"]).status().unwrap();
        assert!(s.success(), "pip install websockets failed");
    }
    let out = Command::new("python3").args([script, "cross-distinct", &base, &base]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.trim() == "ok",
        "{stdout}{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        nginx.error_log()
    );
}
