//! A connection's life as the server sees it, end to end over loopback: when
//! it may be closed, what it is still owed at shutdown, and what it gives
//! back however it ends. Every socket read has a timeout, so a bug fails a
//! test instead of hanging it; time bounds are generous (CI has two busy cores).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use greenloop::http::{IntoResponse, Limits, Request, Response, RunningServer, Server};

mod support;
use support::raw::RawClient;

fn app(req: Request) -> Response {
    match req.uri().path() {
        "/sleep" => {
            greenloop::sleep(Duration::from_millis(300));
            "slept".into_response()
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
