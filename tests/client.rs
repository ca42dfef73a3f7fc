//! The HTTP client against real loopback servers: greenloop's own server for
//! ordinary behaviour, and small raw `std::net` servers on std threads for
//! the exotic ones (counting connections, closing idle connections, chunked,
//! close-delimited or malformed responses, never answering).
//!
//! Time bounds are generous where they only guard against hangs (CI has two
//! busy cores) and tight only where the bound is the point of the test.

use std::collections::HashSet;
use std::io::{self, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use greenloop::http::client::{ClientResponse, default_client};
use greenloop::http::{
    Client, Method, Request, RequestExt, Response, ResponseBody, Router, RunningServer, Server, StatusCode, get, post,
};
use serde_json::json;

mod support;
use support::raw_server::{raw_responder, raw_server, read_request};

const LIMIT: usize = 4 << 20;

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

fn start(router: Router) -> (RunningServer, String) {
    let server = Server::bind("127.0.0.1:0").handle_signals(false).start(router).expect("server starts");
    let base = format!("http://{}", server.local_addr().unwrap());
    (server, base)
}

/// A 2 MiB body with a recognisable pattern.
fn big_body() -> Vec<u8> {
    (0..2 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect()
}

fn app() -> Router {
    Router::new()
        .route("/hello", get(|_req: Request| "hello"))
        .route(
            "/sleep",
            get(|req: Request| {
                greenloop::sleep(Duration::from_secs(1));
                req.query("i").unwrap_or_default()
            }),
        )
        .route("/peer", get(|req: Request| req.peer_addr().map(|a| a.to_string()).unwrap_or_default()))
        .route(
            "/slow-peer",
            get(|req: Request| {
                // Long enough that requests sent together are all in flight at once.
                greenloop::sleep(Duration::from_millis(100));
                req.peer_addr().map(|a| a.to_string()).unwrap_or_default()
            }),
        )
        .route("/query", get(|req: Request| req.uri().to_string()))
        .route("/big", get(|_req: Request| big_body()))
        .route(
            "/chunked",
            get(|_req: Request| {
                Response::new(ResponseBody::stream(|w| {
                    let body = big_body();
                    for piece in body.chunks(10_000) {
                        w.write_all(piece)?;
                    }
                    Ok(())
                }))
            }),
        )
        .route("/empty", get(|_req: Request| StatusCode::NO_CONTENT))
        .route(
            "/echo",
            post(|req: Request| {
                let content_type = req.headers().get("content-type").cloned();
                let body = req.into_body().read_to_vec(LIMIT).unwrap();
                let mut res = Response::new(body.into());
                if let Some(ct) = content_type {
                    res.headers_mut().insert("content-type", ct);
                }
                res
            }),
        )
}

fn distinct(peers: &[String]) -> usize {
    peers.iter().collect::<HashSet<_>>().len()
}

fn text(res: io::Result<ClientResponse>) -> String {
    res.expect("request succeeds").text(LIMIT).expect("body reads")
}

// ---------------------------------------------------------------------------
// Concurrency and the pool
// ---------------------------------------------------------------------------

#[test]
fn ten_concurrent_gets_fan_out() {
    let (server, base) = start(app());
    let (results, elapsed) = greenloop::run(move || {
        let client = Client::new();
        let t0 = Instant::now();
        let results = greenloop::join_all((0..10).map(|i| {
            let (client, base) = (client.clone(), base.clone());
            move || text(client.get(format!("{base}/sleep?i={i}")).send())
        }));
        (results, t0.elapsed())
    });
    assert_eq!(results, (0..10).map(|i| i.to_string()).collect::<Vec<_>>());
    assert!(elapsed < Duration::from_millis(1500), "10 concurrent 1 s requests took {elapsed:?}");
    server.stop().unwrap();
}

#[test]
fn sequential_requests_reuse_one_connection() {
    let (server, base) = start(app());
    let peers = greenloop::run(move || {
        let client = Client::new();
        (0..20).map(|_| text(client.get(format!("{base}/peer")).send())).collect::<Vec<_>>()
    });
    assert_eq!(distinct(&peers), 1, "{peers:?}");
    server.stop().unwrap();
}

#[test]
fn concurrent_batches_reuse_pooled_connections() {
    let (server, base) = start(app());
    let peers = greenloop::run(move || {
        let client = Client::new();
        let mut peers = Vec::new();
        for _ in 0..2 {
            peers.extend(greenloop::join_all((0..10).map(|_| {
                let (client, base) = (client.clone(), base.clone());
                move || text(client.get(format!("{base}/slow-peer")).send())
            })));
            assert_eq!(client.idle_connections(), 10);
        }
        peers
    });
    assert_eq!(peers.len(), 20);
    // The first batch needs 10 connections (all in flight at once); the second reuses them.
    assert_eq!(distinct(&peers), 10, "{} connections for two batches of 10", distinct(&peers));
    server.stop().unwrap();
}

#[test]
fn pool_keeps_at_most_max_idle_per_host() {
    let (server, base) = start(app());
    greenloop::run(move || {
        let client = Client::builder().max_idle_per_host(2).build();
        greenloop::join_all((0..5).map(|_| {
            let (client, base) = (client.clone(), base.clone());
            move || text(client.get(format!("{base}/slow-peer")).send())
        }));
        assert_eq!(client.idle_connections(), 2);
    });
    server.stop().unwrap();
}

#[test]
fn idle_connections_expire() {
    let (server, base) = start(app());
    let peers = greenloop::run(move || {
        let client = Client::builder().idle_timeout(Duration::from_millis(100)).build();
        let a = text(client.get(format!("{base}/peer")).send());
        greenloop::sleep(Duration::from_millis(250));
        let b = text(client.get(format!("{base}/peer")).send());
        vec![a, b]
    });
    assert_eq!(distinct(&peers), 2, "an expired idle connection was reused: {peers:?}");
    server.stop().unwrap();
}

#[test]
fn a_response_dropped_before_its_end_closes_its_connection() {
    let (server, base) = start(app());
    let peers = greenloop::run(move || {
        let client = Client::new();
        let mut res = client.get(format!("{base}/big")).send().unwrap();
        let mut first = [0u8; 100];
        res.read_exact(&mut first).unwrap();
        drop(res);
        assert_eq!(client.idle_connections(), 0);
        let a = text(client.get(format!("{base}/peer")).send());
        let b = text(client.get(format!("{base}/peer")).send());
        vec![a, b]
    });
    assert_eq!(distinct(&peers), 1, "{peers:?}");
    server.stop().unwrap();
}

#[test]
fn stale_connection_closed_by_the_server_is_detected() {
    // Answers one request per connection, then closes without `Connection: close`.
    let (addr, accepted) = raw_server(|stream| {
        let mut w = stream.try_clone().unwrap();
        if read_request(&mut BufReader::new(stream)).is_some() {
            let _ = w.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        }
    });
    let bodies = greenloop::run(move || {
        let client = Client::new();
        (0..5)
            .map(|_| {
                let body = text(client.get(format!("http://{addr}/")).send());
                greenloop::sleep(Duration::from_millis(20)); // let the FIN arrive
                body
            })
            .collect::<Vec<_>>()
    });
    assert_eq!(bodies, vec!["ok"; 5]);
    assert_eq!(accepted.load(Ordering::SeqCst), 5);
}

/// Answers the first request on each connection; on the next one, closes
/// without answering (the server timed the idle connection out just as the
/// client reused it). Counts requests seen.
fn one_answer_per_connection_server() -> (SocketAddr, Arc<AtomicUsize>, Arc<AtomicUsize>) {
    let requests = Arc::new(AtomicUsize::new(0));
    let seen = requests.clone();
    let (addr, accepted) = raw_server(move |stream| {
        let mut w = stream.try_clone().unwrap();
        let mut r = BufReader::new(stream);
        if read_request(&mut r).is_some() {
            seen.fetch_add(1, Ordering::SeqCst);
            let _ = w.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        }
        if read_request(&mut r).is_some() {
            seen.fetch_add(1, Ordering::SeqCst);
        }
    });
    (addr, accepted, requests)
}

#[test]
fn idempotent_request_lost_on_a_reused_connection_is_retried_once() {
    let (addr, accepted, requests) = one_answer_per_connection_server();
    let bodies = greenloop::run(move || {
        let client = Client::new();
        let mut bodies: Vec<String> = (0..5).map(|_| text(client.get(format!("http://{addr}/")).send())).collect();
        bodies.push(text(client.request(Method::DELETE, format!("http://{addr}/x")).send()));
        bodies
    });
    assert_eq!(bodies, vec!["ok"; 6]);
    assert_eq!(accepted.load(Ordering::SeqCst), 6);
    assert_eq!(requests.load(Ordering::SeqCst), 11, "each reuse failed once, then was retried");
}

#[test]
fn post_lost_on_a_reused_connection_is_not_retried() {
    let (addr, accepted, _) = one_answer_per_connection_server();
    let err = greenloop::run(move || {
        let client = Client::new();
        assert_eq!(text(client.get(format!("http://{addr}/")).send()), "ok");
        client.post(format!("http://{addr}/")).body("payload").send().unwrap_err()
    });
    assert!(
        matches!(err.kind(), io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset),
        "{:?}: {err}",
        err.kind()
    );
    let msg = err.to_string();
    assert!(msg.contains("not retried") && msg.contains("POST http://"), "{msg}");
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
}

// ---------------------------------------------------------------------------
// Bodies
// ---------------------------------------------------------------------------

#[test]
fn content_length_and_chunked_bodies_read_correctly() {
    let (server, base) = start(app());
    greenloop::run(move || {
        let client = Client::new();
        assert_eq!(text(client.get(format!("{base}/hello")).send()), "hello");

        let res = client.get(format!("{base}/big")).send().unwrap();
        assert_eq!(res.content_length(), Some(2 * 1024 * 1024));
        assert_eq!(res.bytes(LIMIT).unwrap(), big_body());

        let res = client.get(format!("{base}/chunked")).send().unwrap();
        assert_eq!(res.headers().get("transfer-encoding").unwrap(), "chunked");
        assert_eq!(res.content_length(), None);
        assert_eq!(res.bytes(LIMIT).unwrap(), big_body());

        // Small reads through `Read` see the same bytes.
        let mut res = client.get(format!("{base}/chunked")).send().unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 7];
        loop {
            let n = res.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, big_body());
        drop(res);

        // Every body above was read to its end: one connection did it all.
        assert_eq!(client.idle_connections(), 1);
        let a = text(client.get(format!("{base}/peer")).send());
        let b = text(client.get(format!("{base}/peer")).send());
        assert_eq!(a, b);
    });
    server.stop().unwrap();
}

#[test]
fn bodiless_responses_return_the_connection_at_once() {
    let (server, base) = start(app());
    greenloop::run(move || {
        let client = Client::new();
        let res = client.get(format!("{base}/empty")).send().unwrap();
        assert_eq!(res.status(), StatusCode::NO_CONTENT);
        assert_eq!(client.idle_connections(), 1);
        assert_eq!(res.bytes(10).unwrap(), b"");
        let res = client.head(format!("{base}/big")).send().unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers().get("content-length").unwrap(), "2097152");
        assert_eq!(res.content_length(), Some(0));
        drop(res);
        assert_eq!(client.idle_connections(), 1);
        assert_eq!(text(client.get(format!("{base}/hello")).send()), "hello");
    });
    server.stop().unwrap();
}

#[test]
fn raw_chunked_with_extensions_trailers_and_interim_responses() {
    let (addr, accepted) = raw_responder(
        b"HTTP/1.1 100 Continue\r\n\r\n\
          HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
          5;ext=1\r\nhello\r\n1\r\n,\r\n6\r\n world\r\n0\r\nX-Trailer: yes\r\n\r\n",
    );
    greenloop::run(move || {
        let client = Client::new();
        for _ in 0..3 {
            let res = client.get(format!("http://{addr}/")).send().unwrap();
            assert_eq!(res.status(), StatusCode::OK);
            assert_eq!(res.text(100).unwrap(), "hello, world");
        }
    });
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
}

#[test]
fn close_delimited_body_reads_to_eof() {
    let (addr, accepted) = raw_server(|stream| {
        let mut w = stream.try_clone().unwrap();
        if read_request(&mut BufReader::new(stream)).is_some() {
            let _ = w.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the ");
            thread::sleep(Duration::from_millis(50));
            let _ = w.write_all(b"very end");
        }
    });
    greenloop::run(move || {
        let client = Client::new();
        let res = client.get(format!("http://{addr}/")).send().unwrap();
        assert_eq!(res.content_length(), None);
        assert_eq!(res.text(100).unwrap(), "until the very end");
        assert_eq!(client.idle_connections(), 0, "a close-delimited connection is never reused");
        assert_eq!(text(client.get(format!("http://{addr}/")).send()), "until the very end");
    });
    assert_eq!(accepted.load(Ordering::SeqCst), 2);
}

#[test]
fn paths_and_query_strings_are_sent_as_given() {
    let (server, base) = start(app());
    let uri = greenloop::run(move || text(default_client().get(format!("{base}/query?a=1&b=two%20words#frag")).send()));
    assert_eq!(uri, "/query?a=1&b=two%20words");
    server.stop().unwrap();
}

#[test]
fn post_json_round_trips_through_an_echo_handler() {
    let (server, base) = start(app());
    greenloop::run(move || {
        let value = json!({ "name": "greenloop", "tags": ["green", "loop"], "n": 42, "nested": { "ok": true } });
        let res = Client::new().post(format!("{base}/echo")).json(&value).send().unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers().get("content-type").unwrap(), "application/json");
        assert_eq!(res.json(LIMIT).unwrap(), value);

        // A large plain body too.
        let body = big_body();
        let res = Client::new().post(format!("{base}/echo")).body(body.clone()).send().unwrap();
        assert_eq!(res.bytes(LIMIT).unwrap(), body);
    });
    server.stop().unwrap();
}

#[test]
fn a_handler_calls_another_service_through_the_default_client() {
    let (upstream, upstream_base) = start(app());
    let router = Router::new().route(
        "/proxy",
        get(move |_req: Request| -> io::Result<String> {
            let body = default_client().get(format!("{upstream_base}/hello")).send()?.text(1024)?;
            Ok(format!("upstream said {body}"))
        }),
    );
    let (server, base) = start(router);
    let body = greenloop::run(move || text(Client::new().get(format!("{base}/proxy")).send()));
    assert_eq!(body, "upstream said hello");
    server.stop().unwrap();
    upstream.stop().unwrap();
}

// ---------------------------------------------------------------------------
// Errors and timeouts
// ---------------------------------------------------------------------------

#[test]
fn request_timeout_when_the_server_never_answers() {
    let (addr, _) = raw_server(|stream| {
        let mut r = BufReader::new(stream);
        let _ = read_request(&mut r);
        thread::sleep(Duration::from_secs(5));
    });
    let (err, elapsed) = greenloop::run(move || {
        let t0 = Instant::now();
        let err = Client::new().get(format!("http://{addr}/")).timeout(Duration::from_millis(300)).send().unwrap_err();
        (err, t0.elapsed())
    });
    assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}");
    assert!(elapsed >= Duration::from_millis(290) && elapsed < Duration::from_secs(3), "{elapsed:?}");
    let msg = err.to_string();
    assert!(msg.contains("request timed out after 300ms") && msg.contains(&addr.to_string()), "{msg}");
}

#[test]
fn request_timeout_covers_a_stalled_body() {
    let (addr, _) = raw_server(|stream| {
        let mut w = stream.try_clone().unwrap();
        let _ = read_request(&mut BufReader::new(stream));
        let _ = w.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part");
        thread::sleep(Duration::from_secs(5));
    });
    let err = greenloop::run(move || {
        let res = Client::new().get(format!("http://{addr}/")).timeout(Duration::from_millis(300)).send().unwrap();
        res.bytes(1000).unwrap_err()
    });
    assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}");
    assert!(err.to_string().contains("reading the response body"), "{err}");
}

#[test]
fn connect_timeout_against_a_full_backlog() {
    use socket2::{Domain, Socket, Type};
    // A listener that never accepts, with the smallest backlog: once its
    // queue is full, the kernel drops further SYNs and connects hang.
    let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    socket.bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into()).unwrap();
    socket.listen(0).unwrap();
    let addr = socket.local_addr().unwrap().as_socket().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..8 {
        if let Ok(s) = TcpStream::connect_timeout(&addr, Duration::from_millis(100)) {
            fillers.push(s);
        }
    }
    let (err, elapsed) = greenloop::run(move || {
        let client = Client::builder().connect_timeout(Duration::from_millis(300)).build();
        let t0 = Instant::now();
        let err = client.get(format!("http://{addr}/")).send().unwrap_err();
        (err, t0.elapsed())
    });
    assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}");
    assert!(elapsed >= Duration::from_millis(290) && elapsed < Duration::from_secs(3), "{elapsed:?}");
    let msg = err.to_string();
    assert!(msg.contains(&format!("connect to {addr} timed out after 300ms")), "{msg}");
    drop((fillers, socket));
}

#[test]
fn connection_refused_names_the_address() {
    let addr = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap(); // dropped: port now closed
    let err = greenloop::run(move || Client::new().get(format!("http://{addr}/x")).send().unwrap_err());
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused, "{err}");
    let msg = err.to_string();
    assert!(msg.contains(&format!("connection refused by {addr}")), "{msg}");
}

#[test]
fn host_names_resolve() {
    let (server, base) = start(app());
    let port = server.local_addr().unwrap().port();
    let body = greenloop::run(move || text(Client::new().get(format!("http://localhost:{port}/hello")).send()));
    assert_eq!(body, "hello");
    drop(base);
    server.stop().unwrap();
}

#[test]
fn malformed_responses_are_invalid_data_with_a_reason() {
    for (response, reason) in [
        (&b"HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n"[..], "invalid Content-Length"),
        (b"SMTP ready\r\n\r\n", "malformed response"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "invalid chunked encoding"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", "conflicting Content-Length"),
    ] {
        let (addr, _) = raw_responder(response);
        let err = greenloop::run(move || Client::new().get(format!("http://{addr}/")).send()?.bytes(100)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err}");
        assert!(err.to_string().contains(reason), "{reason:?} not in {err}");
    }
    // A body cut short is not passed off as complete.
    let (addr, _) = raw_server(|stream| {
        let mut w = stream.try_clone().unwrap();
        let _ = read_request(&mut BufReader::new(stream));
        let _ = w.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
    });
    let err = greenloop::run(move || Client::new().get(format!("http://{addr}/")).send()?.bytes(100)).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof, "{err}");
    assert!(err.to_string().contains("7 bytes of the response body still to come"), "{err}");
}

#[test]
fn oversized_responses_are_rejected() {
    // A head over max_response_head.
    let mut big_head = b"HTTP/1.1 200 OK\r\nX-Big: ".to_vec();
    big_head.extend(std::iter::repeat_n(b'a', 20_000));
    big_head.extend_from_slice(b"\r\nContent-Length: 0\r\n\r\n");
    let big_head: &'static [u8] = big_head.leak();
    let (addr, _) = raw_responder(big_head);
    let err = greenloop::run(move || {
        Client::builder().max_response_head(16 * 1024).build().get(format!("http://{addr}/")).send().unwrap_err()
    });
    assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err}");
    assert!(err.to_string().contains("too large"), "{err}");

    let (server, base) = start(app());
    greenloop::run(move || {
        let client = Client::new();
        // A declared length over the `bytes` limit fails before reading.
        let err = client.get(format!("{base}/big")).send().unwrap().bytes(1000).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("response body too large: 2097152 bytes declared"), "{err}");
        // A chunked one fails once it crosses the limit.
        let err = client.get(format!("{base}/chunked")).send().unwrap().bytes(1000).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("more than the 1000-byte limit"), "{err}");
        // So does a declared length over the client's max_response_body.
        let small = Client::builder().max_response_body(1000).build();
        let err = small.get(format!("{base}/big")).send().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert!(err.to_string().contains("max_response_body"), "{err}");
    });
    server.stop().unwrap();
}

#[test]
fn bad_urls_are_rejected_clearly() {
    greenloop::run(|| {
        let client = Client::new();
        // https:// is the `tls` feature's (tests/tls.rs); without it, a clear refusal.
        if !cfg!(feature = "tls") {
            let err = client.get("https://example.com/").send().unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
            assert!(err.to_string().contains("https:// needs greenloop's `tls` cargo feature"), "{err}");
        }
        for bad in ["ftp://example.com/", "/relative/path", "http://", "not a url"] {
            let err = client.get(bad).send().unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{bad}: {err}");
        }
        let err = client.get("http://127.0.0.1:1/").header("bad header", "x").send().unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(err.to_string().contains("invalid header name"), "{err}");
    });
}

#[test]
fn send_outside_a_green_thread_panics_clearly() {
    let panic = std::panic::catch_unwind(|| Client::new().get("http://127.0.0.1:1/").send()).unwrap_err();
    let msg = panic.downcast_ref::<String>().map(String::as_str).or(panic.downcast_ref::<&str>().copied());
    assert!(msg.is_some_and(|m| m.contains("must be called on a green thread")), "{msg:?}");
}

#[test]
fn redirects_are_returned_as_is() {
    let (addr, _) = raw_responder(b"HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\nContent-Length: 0\r\n\r\n");
    let res = greenloop::run(move || {
        let res = Client::new().get(format!("http://{addr}/")).send().unwrap();
        (res.status(), res.headers().get("location").cloned())
    });
    assert_eq!(res.0, StatusCode::FOUND);
    assert_eq!(res.1.unwrap(), "/elsewhere");
}
