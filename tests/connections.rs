//! A connection's life as the server sees it, end to end over loopback: when
//! it may be closed, what it is still owed at shutdown, and what it gives
//! back however it ends. Every socket read has a timeout, so a bug fails a
//! test instead of hanging it; time bounds are generous (CI has two busy cores).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use greenloop::http::{IntoResponse, Limits, Request, Response, RunningServer, Server};

mod support;
use support::demo::Demo;
use support::raw::RawClient;

fn app(req: Request) -> Response {
    match req.uri().path() {
        "/sleep" => {
            greenloop::sleep(Duration::from_millis(300));
            "slept".into_response()
        }
        "/compute" => {
            // Holds the loop (as long computing would) without waiting.
            std::thread::sleep(Duration::from_millis(600));
            "computed".into_response()
        }
        _ => "hello".into_response(),
    }
}

fn start_with(limits: Limits) -> RunningServer {
    Server::bind("127.0.0.1:0").handle_signals(false).limits(limits).start(app).expect("server starts")
}

fn addr(server: &RunningServer) -> SocketAddr {
    server.local_addr().expect("a TCP address")
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n")
}

#[test]
fn a_client_that_never_speaks_gets_the_header_timeout_not_the_idle_timeout() {
    let limits = Limits {
        header_timeout: Duration::from_millis(500),
        idle_timeout: Duration::from_secs(60),
        ..Default::default()
    };
    let server = start_with(limits);
    let t0 = Instant::now();
    let mut silent = RawClient::connect(addr(&server));
    silent.expect_closed();
    let took = t0.elapsed();
    assert!(took < Duration::from_secs(5), "a silent connection was held {took:?} (header timeout 500 ms)");

    // A connection that has been answered is idle, and keeps the idle timeout.
    let mut kept = RawClient::connect(addr(&server));
    kept.send(get("/"));
    assert_eq!(kept.response().text(), "hello");
    std::thread::sleep(Duration::from_millis(1500));
    kept.send(get("/"));
    assert_eq!(kept.response().text(), "hello", "a kept-alive connection outlived the header timeout");
    server.stop().unwrap();
}

#[test]
fn the_idle_timeout_counts_from_the_answer_after_a_handler_that_held_the_loop() {
    // The handler holds the loop longer than the idle timeout; the loop's
    // clock is then as old as the request, and a timeout counted from it
    // would close the connection right after the answer.
    let limits = Limits { idle_timeout: Duration::from_millis(400), ..Default::default() };
    let server = start_with(limits);
    let mut c = RawClient::connect(addr(&server));
    c.send(get("/compute"));
    assert_eq!(c.response().text(), "computed");
    std::thread::sleep(Duration::from_millis(100));
    c.send(get("/"));
    assert_eq!(c.response().text(), "hello", "closed by an idle timeout counted from before the handler ran");
    server.stop().unwrap();
}

// ---------------------------------------------------------------------------
// Graceful shutdown: what a client has begun to send is still answered.
// ---------------------------------------------------------------------------

fn sigterm(demo: &Demo) {
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(demo.child.id() as i32, libc::SIGTERM) }, 0);
    demo.wait_for_line("finishing requests in flight", Duration::from_secs(10)).expect("the signal is logged");
}

fn connect(demo: &Demo) -> RawClient {
    RawClient::connect(demo.addr())
}

#[test]
fn a_head_begun_before_sigterm_is_finished_and_answered_with_close() {
    let mut demo = Demo::start(&["--quiet"]);
    let mut c = connect(&demo);
    c.send("GET /plaintext HTTP/1.1\r\nHo");
    // Let those bytes reach the server (if they have not, they are in its
    // socket at shutdown, which must be answered the same).
    std::thread::sleep(Duration::from_millis(100));
    sigterm(&demo);
    std::thread::sleep(Duration::from_millis(300));
    c.send("st: demo\r\n\r\n");
    let resp = c.response();
    assert_eq!((resp.status, resp.text().as_str()), (200, "Hello, World!"));
    assert!(resp.closes(), "the last answer at shutdown says Connection: close: {resp:?}");
    c.expect_closed();
    assert!(demo.child.wait().unwrap().success());
}

#[test]
fn pipelined_requests_buffered_at_sigterm_are_all_answered() {
    let mut demo = Demo::start(&["--quiet"]);
    let mut c = connect(&demo);
    let mut burst = get("/sleep?ms=500");
    for _ in 0..3 {
        burst.push_str(&get("/plaintext"));
    }
    c.send(burst);
    std::thread::sleep(Duration::from_millis(100));
    sigterm(&demo);
    let first = c.response();
    assert_eq!(first.status, 200, "{first:?}");
    assert!(!first.closes(), "more requests were buffered behind it: {first:?}");
    for i in 0..3 {
        let resp = c.response();
        assert_eq!((resp.status, resp.text().as_str()), (200, "Hello, World!"), "pipelined request {i}");
        assert_eq!(resp.closes(), i == 2, "only the last answer closes: {resp:?}");
    }
    c.expect_closed();
    assert!(demo.child.wait().unwrap().success());
}

// ---------------------------------------------------------------------------
// At the connection cap: idle keep-alive connections make room.
// ---------------------------------------------------------------------------

/// `n` keep-alive connections, each answered once and left idle, the first
/// one idle the longest.
fn idle_clients(demo: &Demo, n: usize) -> Vec<RawClient> {
    (0..n)
        .map(|_| {
            let mut c = connect(demo);
            c.send(get("/plaintext"));
            assert_eq!(c.response().status, 200);
            c
        })
        .collect()
}

#[test]
fn at_the_cap_the_longest_idle_keep_alive_connection_makes_room() {
    let demo = Demo::start(&["--quiet", "--max-connections", "20"]);
    let mut idle = idle_clients(&demo, 20);
    for round in 0..3 {
        let t0 = Instant::now();
        let mut newcomer = connect(&demo);
        newcomer.send(get("/plaintext"));
        let resp = newcomer.response();
        let took = t0.elapsed();
        assert_eq!(resp.status, 200);
        assert!(took < Duration::from_secs(1), "round {round}: a new client waited {took:?} behind idle ones");
        // The one idle the longest was closed for it; the others still serve.
        idle.remove(0).expect_closed();
        idle.push(newcomer);
    }
    for c in &mut idle {
        c.send(get("/plaintext"));
        assert_eq!(c.response().status, 200);
    }
}

#[test]
fn at_the_cap_busy_connections_are_never_closed_and_the_newcomer_waits_for_one_to_fall_idle() {
    let demo = Demo::start(&["--quiet", "--max-connections", "4"]);
    let mut busy = idle_clients(&demo, 4);
    for c in &mut busy {
        c.send(get("/sleep?ms=500"));
    }
    let t0 = Instant::now();
    let mut newcomer = connect(&demo);
    newcomer.send(get("/plaintext"));
    // Every request in flight is answered, on a connection kept alive.
    for c in &mut busy {
        let resp = c.response();
        assert_eq!(resp.status, 200);
        assert!(!resp.closes(), "{resp:?}");
    }
    let resp = newcomer.response();
    let took = t0.elapsed();
    assert_eq!(resp.status, 200);
    assert!(took < Duration::from_secs(3), "the newcomer waited {took:?} (the sleeps take 0.5 s)");
}

// ---------------------------------------------------------------------------
// Unix sockets: who may connect, and no file left behind.
// ---------------------------------------------------------------------------

fn socket_path(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("greenloop-conns-{name}-{}.sock", std::process::id()))
}

fn mode_of(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::symlink_metadata(path).expect("the socket file exists").permissions().mode() & 0o777
}

#[test]
fn the_unix_socket_gets_the_mode_asked_for_and_is_removed_when_the_server_stops() {
    let path = socket_path("lib");
    let server = Server::bind_unix(&path).unix_mode(0o660).handle_signals(false).start(app).expect("server starts");
    assert_eq!(mode_of(&path), 0o660);
    let s = std::os::unix::net::UnixStream::connect(&path).unwrap();
    assert_eq!(support::raw::exchange(s, "/").1, "hello");
    server.stop().unwrap();
    assert!(!path.exists(), "{} is left behind after a stop", path.display());
}

#[test]
fn the_demo_chmods_its_socket_and_removes_it_on_sigterm() {
    let path = socket_path("demo");
    let mut demo = Demo::spawn(&["--quiet", "--unix", path.to_str().unwrap(), "--unix-mode", "660"]);
    assert_eq!(mode_of(&path), 0o660);
    let s = std::os::unix::net::UnixStream::connect(&path).unwrap();
    assert_eq!(support::raw::exchange(s, "/plaintext"), (200, "Hello, World!".to_owned()));
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(demo.child.id() as i32, libc::SIGTERM) }, 0);
    assert!(demo.child.wait().unwrap().success());
    let left = path.exists();
    let _ = std::fs::remove_file(&path);
    assert!(!left, "{} is left behind after SIGTERM", path.display());
}

// ---------------------------------------------------------------------------
// A stack overflow on a connection's green thread gives back what it held.
// ---------------------------------------------------------------------------

#[inline(never)]
fn recurse(depth: u64) -> u64 {
    let pad = std::hint::black_box([depth as u8; 512]);
    if depth == 0 { pad[0] as u64 } else { recurse(depth - 1) + std::hint::black_box(pad[1]) as u64 }
}

/// The server of `a_stack_overflow_releases_the_connection_slot`, run in a
/// child process (an overflow that is not contained ends the process): one
/// connection at a time, a 64 KiB stack, a grace period of a minute.
#[test]
#[ignore = "run by a_stack_overflow_releases_the_connection_slot in a child process"]
fn overflow_server_child() {
    if std::env::var_os("GREENLOOP_CONNS_OVERFLOW_CHILD").is_none() {
        return;
    }
    let server = Server::bind("127.0.0.1:0")
        .stack_size(64 * 1024)
        .limits(Limits { max_connections: 1, ..Default::default() })
        .grace_period(Duration::from_secs(60))
        .start(|req: Request| -> Response {
            match req.uri().path() {
                "/recurse" => format!("{}", recurse(1_000_000)).into_response(),
                _ => app(req),
            }
        })
        .expect("server starts");
    server.watch_signals().unwrap();
    println!("ADDR {}", addr(&server));
    server.serve_until_signal().unwrap();
    println!("STOPPED");
}

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
#[test]
fn a_stack_overflow_releases_the_connection_slot() {
    use std::io::{BufRead, BufReader};
    /// Kills the child server if the test fails before stopping it.
    struct Child(std::process::Child);
    impl Drop for Child {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut child = Child(
        std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "overflow_server_child", "--ignored", "--nocapture", "--test-threads=1"])
            .env("GREENLOOP_CONNS_OVERFLOW_CHILD", "1")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut out = BufReader::new(child.0.stdout.take().unwrap());
    let addr: SocketAddr = loop {
        let mut line = String::new();
        assert!(out.read_line(&mut line).unwrap() > 0, "the child exited before serving");
        // The test harness may have begun the line ("test ... ").
        if let Some((_, a)) = line.trim().split_once("ADDR ") {
            break a.parse().unwrap();
        }
    };
    let mut deep = RawClient::connect(addr);
    deep.send(get("/recurse"));
    // The overflow fails this connection only: it is closed, not left hanging.
    deep.expect_closed();
    // Its slot was given back: with one connection allowed, the next is served.
    let mut next = RawClient::connect(addr);
    next.send(get("/"));
    assert_eq!(next.response().text(), "hello");
    drop(next);
    // Nothing left open for a graceful stop to wait for (its grace is a minute).
    let t0 = Instant::now();
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(child.0.id() as i32, libc::SIGTERM) }, 0);
    let status = child.0.wait().unwrap();
    let took = t0.elapsed();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
    assert!(status.success() && rest.contains("STOPPED"), "{status:?}: {rest}");
    assert!(took < Duration::from_secs(10), "the graceful stop waited {took:?} for the overflowed connection");
}
