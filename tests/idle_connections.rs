//! Keep-alive connections between requests give back their green thread
//! and stack after `Limits::idle_stackless_after`, and wait as a readiness
//! callback on their socket. These tests hold such connections over loopback
//! and check that every way out of that sleep works: the next request
//! (alone or pipelined), the idle timeout, a hang-up, an eviction at the
//! connection cap and the server's shutdown. Every socket read has a
//! timeout, so a lost wake fails a test instead of hanging it.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use greenloop::http::{IntoResponse, Limits, Request, Response, RunningServer, Server};

mod support;
use support::raw::RawClient;

/// `/threads`: green threads alive on this worker; `/open`: open connections
/// (from the metrics); anything else: `hello <path>`.
fn app(req: Request) -> Response {
    match req.uri().path() {
        "/threads" => {
            let stats = greenloop::inspect::loop_stats().expect("on a loop");
            stats.green_threads.to_string().into_response()
        }
        "/open" => {
            let metrics = greenloop::http::metrics::render();
            let open = metrics
                .lines()
                .find_map(|l| l.strip_prefix("greenloop_http_connections_open "))
                .expect("the open connections gauge")
                .to_string();
            open.into_response()
        }
        path => format!("hello {path}").into_response(),
    }
}

fn limits(after: Duration) -> Limits {
    Limits { idle_stackless_after: Some(after), ..Limits::default() }
}

fn start(limits: Limits) -> RunningServer {
    Server::bind("127.0.0.1:0").workers(1).handle_signals(false).limits(limits).start(app).expect("server starts")
}

fn addr(server: &RunningServer) -> SocketAddr {
    server.local_addr().expect("a TCP address")
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: test\r\n\r\n")
}

/// Asks `path` on a connection of its own (which closes after the answer).
fn ask(addr: SocketAddr, path: &str) -> String {
    let mut c = RawClient::connect(addr);
    c.send(format!("GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"));
    c.response().text()
}

/// Polls `path` until `done` accepts its answer, for at most `within`.
fn wait_for(addr: SocketAddr, path: &str, within: Duration, done: impl Fn(u64) -> bool) -> u64 {
    let until = Instant::now() + within;
    loop {
        let n: u64 = ask(addr, path).trim().parse().expect("a number");
        if done(n) || Instant::now() > until {
            return n;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Opens `n` keep-alive connections that each made one request.
fn idle_clients(addr: SocketAddr, n: usize) -> Vec<RawClient> {
    (0..n)
        .map(|i| {
            let mut c = RawClient::connect(addr);
            c.send(get(&format!("/first/{i}")));
            assert_eq!(c.response().text(), format!("hello /first/{i}"));
            c
        })
        .collect()
}

#[test]
fn idle_keep_alive_connections_hold_no_green_thread_and_each_wakes_for_its_next_request() {
    let server = start(limits(Duration::from_millis(50)));
    let addr = addr(&server);
    let mut clients = idle_clients(addr, 200);
    // With their green threads, 200 idle connections are 200 green threads
    // more; asleep, they are none (the acceptor and the asking connection remain).
    let threads = wait_for(addr, "/threads", Duration::from_secs(10), |n| n < 20);
    assert!(threads < 20, "200 idle connections still hold {threads} green threads");
    for (i, c) in clients.iter_mut().enumerate() {
        c.send(get(&format!("/second/{i}")));
    }
    for (i, c) in clients.iter_mut().enumerate() {
        let r = c.response();
        assert_eq!(r.status, 200);
        assert_eq!(r.text(), format!("hello /second/{i}"));
    }
    // And they fall asleep again, to wake a third time.
    let threads = wait_for(addr, "/threads", Duration::from_secs(10), |n| n < 20);
    assert!(threads < 20, "{threads} green threads after the second round");
    for (i, c) in clients.iter_mut().enumerate().take(10) {
        c.send(get(&format!("/third/{i}")));
        assert_eq!(c.response().text(), format!("hello /third/{i}"));
    }
    server.stop().expect("server stops");
}

#[test]
fn pipelined_requests_reaching_a_sleeping_connection_are_all_answered_in_order() {
    let server = start(limits(Duration::from_millis(30)));
    let addr = addr(&server);
    let mut c = idle_clients(addr, 1).pop().unwrap();
    wait_for(addr, "/threads", Duration::from_secs(10), |n| n < 4);
    // Three requests in one write, the last one split over two writes.
    c.send(format!("{}{}GET /c HTTP/1.1\r\n", get("/a"), get("/b")));
    std::thread::sleep(Duration::from_millis(100));
    c.send("Host: test\r\n\r\n");
    for path in ["/a", "/b", "/c"] {
        assert_eq!(c.response().text(), format!("hello {path}"));
    }
    server.stop().expect("server stops");
}

#[test]
fn a_sleeping_connection_is_closed_at_its_idle_timeout_and_gives_its_slot_back() {
    let limits = Limits { idle_timeout: Duration::from_millis(600), ..limits(Duration::from_millis(50)) };
    let server = start(limits);
    let addr = addr(&server);
    let mut c = idle_clients(addr, 1).pop().unwrap();
    let started = Instant::now();
    c.expect_closed();
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(400), "closed after {took:?}, before its idle timeout");
    assert!(took < Duration::from_secs(5), "closed only after {took:?}");
    // Only the asking connection is left open.
    assert_eq!(wait_for(addr, "/open", Duration::from_secs(5), |n| n == 1), 1);
}

#[test]
fn a_client_that_hangs_up_while_its_connection_sleeps_frees_it_at_once() {
    let server = start(limits(Duration::from_millis(30)));
    let addr = addr(&server);
    let clients = idle_clients(addr, 20);
    wait_for(addr, "/threads", Duration::from_secs(10), |n| n < 6);
    assert_eq!(ask(addr, "/open").trim(), "21", "20 sleeping and the asking one");
    drop(clients);
    // The idle timeout is a minute: only the hang-up can free them this soon.
    assert_eq!(wait_for(addr, "/open", Duration::from_secs(10), |n| n == 1), 1);
    server.stop().expect("server stops");
}

#[test]
fn at_the_cap_a_sleeping_connection_makes_room_for_a_newcomer() {
    let limits = Limits { max_connections: 2, ..limits(Duration::from_millis(30)) };
    let server = start(limits);
    let addr = addr(&server);
    let mut sleepers = idle_clients(addr, 2);
    // Both asleep (their last request is well past).
    std::thread::sleep(Duration::from_millis(300));
    let mut newcomer = RawClient::connect(addr);
    let started = Instant::now();
    newcomer.send(get("/new"));
    assert_eq!(newcomer.response().text(), "hello /new");
    assert!(started.elapsed() < Duration::from_secs(3), "the newcomer waited {:?}", started.elapsed());
    // The one idle the longest was closed for it; the other still serves.
    sleepers[0].expect_closed();
    sleepers[1].send(get("/still"));
    assert_eq!(sleepers[1].response().text(), "hello /still");
    server.stop().expect("server stops");
}

#[test]
fn shutdown_closes_sleeping_connections_without_waiting_out_the_grace_period() {
    let server = Server::bind("127.0.0.1:0")
        .workers(1)
        .handle_signals(false)
        .limits(limits(Duration::from_millis(30)))
        .grace_period(Duration::from_secs(30))
        .start(app)
        .expect("server starts");
    let addr = addr(&server);
    let mut clients = idle_clients(addr, 50);
    wait_for(addr, "/threads", Duration::from_secs(10), |n| n < 6);
    let started = Instant::now();
    server.stop().expect("server stops");
    assert!(started.elapsed() < Duration::from_secs(5), "shutdown took {:?}", started.elapsed());
    for c in &mut clients {
        c.expect_closed();
    }
}

#[test]
fn a_connection_that_keeps_its_green_thread_when_told_to() {
    // `None`: the old behaviour, a green thread per idle connection.
    let limits = Limits { idle_stackless_after: None, ..Limits::default() };
    let server = start(limits);
    let addr = addr(&server);
    let mut clients = idle_clients(addr, 30);
    std::thread::sleep(Duration::from_millis(300));
    let threads: u64 = ask(addr, "/threads").trim().parse().unwrap();
    assert!(threads >= 30, "30 idle connections keep their green threads, found {threads}");
    clients[0].send(get("/again"));
    assert_eq!(clients[0].response().text(), "hello /again");
    server.stop().expect("server stops");
}

#[test]
fn a_sleeping_unix_socket_connection_wakes_too() {
    let path = std::env::temp_dir().join(format!("greenloop-idle-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let server = Server::bind_unix(&path)
        .workers(1)
        .handle_signals(false)
        .limits(limits(Duration::from_millis(30)))
        .start(app)
        .expect("server starts");
    let mut s = std::os::unix::net::UnixStream::connect(&path).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let read_answer = |s: &mut std::os::unix::net::UnixStream, want: &str| {
        let mut got = Vec::new();
        let mut buf = [0u8; 1024];
        while !String::from_utf8_lossy(&got).ends_with(want) {
            let n = s.read(&mut buf).expect("an answer");
            assert!(n > 0, "closed before the answer: {:?}", String::from_utf8_lossy(&got));
            got.extend_from_slice(&buf[..n]);
        }
    };
    s.write_all(get("/one").as_bytes()).unwrap();
    read_answer(&mut s, "hello /one");
    std::thread::sleep(Duration::from_millis(300));
    s.write_all(get("/two").as_bytes()).unwrap();
    read_answer(&mut s, "hello /two");
    server.stop().expect("server stops");
    let _ = std::fs::remove_file(&path);
}
