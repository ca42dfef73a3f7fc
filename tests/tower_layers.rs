//! tower interoperability over loopback: real tower-http layers (CORS, a set
//! response header, a timeout that fires on a slow handler, gzip
//! compression of bytes and of a streamed body) around a greenloop App; an
//! axum Router (path parameter, JSON extractor, a handler awaiting tokio's
//! timer) mounted under /axum/ beside greenloop routes, whose slow requests
//! share one worker, and whose panic answers 500 for that request only.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::Path;
use greenloop::http::tower::{service, wrap};
use greenloop::http::{App, Request, ResponseBody, Router, Server, any, get};
use http::{HeaderValue, Method, StatusCode};
use serde_json::{Value, json};
use tower_http::compression::CompressionLayer;
use tower_http::cors::CorsLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;

fn agent() -> ureq::Agent {
    ureq::Agent::new_with_config(
        ureq::Agent::config_builder().http_status_as_error(false).timeout_global(Some(Duration::from_secs(30))).build(),
    )
}

fn url(addr: SocketAddr, path: &str) -> String {
    format!("http://{addr}{path}")
}

static CANCELLED_SLOW: AtomicUsize = AtomicUsize::new(0);

fn native_routes() -> Router {
    Router::new()
        .route("/hello", get(|_req: Request| "hello from greenloop\n"))
        .route(
            "/slow",
            get(|_req: Request| {
                greenloop::sleep(Duration::from_secs(5));
                if greenloop::cancel::is_cancelled() {
                    CANCELLED_SLOW.fetch_add(1, Ordering::SeqCst);
                }
                "too late\n"
            }),
        )
        .route("/big", get(|_req: Request| "greenloop ".repeat(2000)))
        .route(
            "/streamed",
            get(|_req: Request| {
                http::Response::new(ResponseBody::stream(|w| {
                    for i in 0..200 {
                        writeln!(w, "line {i} of a streamed body that compresses well")?;
                        if i % 50 == 0 {
                            greenloop::sleep(Duration::from_millis(5));
                        }
                    }
                    Ok(())
                }))
            }),
        )
        .route(
            "/upload",
            greenloop::http::post(|mut req: Request| {
                let body = req.body_mut().read_to_vec(1 << 20).unwrap();
                format!("{} bytes\n", body.len())
            }),
        )
}

fn layered_app() -> App {
    App::new(native_routes())
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, Duration::from_millis(300)))
        .layer(SetResponseHeaderLayer::overriding(
            http::header::HeaderName::from_static("x-served-by"),
            HeaderValue::from_static("greenloop under tower"),
        ))
        .layer(
            CorsLayer::new()
                .allow_origin(HeaderValue::from_static("https://app.example"))
                .allow_methods([Method::GET, Method::POST]),
        )
        .layer(CompressionLayer::new())
}

fn start(app: impl Into<App>) -> greenloop::http::RunningServer {
    Server::bind("127.0.0.1:0").workers(1).handle_signals(false).start(app).unwrap()
}

#[test]
fn tower_http_layers_wrap_a_greenloop_app() {
    let server = start(layered_app());
    let addr = server.local_addr().unwrap();
    let a = agent();

    // SetResponseHeaderLayer and CORS on a plain answer.
    let mut res = a.get(&url(addr, "/hello")).header("Origin", "https://app.example").call().unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-served-by"], "greenloop under tower");
    assert_eq!(res.headers()["access-control-allow-origin"], "https://app.example");
    assert_eq!(res.body_mut().read_to_string().unwrap(), "hello from greenloop\n");

    // A CORS preflight is answered by the layer, not the App (which has no OPTIONS route).
    let res = a
        .options(&url(addr, "/hello"))
        .header("Origin", "https://app.example")
        .header("Access-Control-Request-Method", "POST")
        .call()
        .unwrap();
    assert_eq!(res.status(), 200);
    let methods = res.headers()["access-control-allow-methods"].to_str().unwrap().to_owned();
    assert!(methods.contains("POST"), "{methods}");

    // A request body goes through the layers to the blocking handler, small or large.
    let mut res = a.post(&url(addr, "/upload")).send("twelve bytes").unwrap();
    assert_eq!(res.body_mut().read_to_string().unwrap(), "12 bytes\n");
    let mut res = a.post(&url(addr, "/upload")).send(&vec![7u8; 100_000][..]).unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.body_mut().read_to_string().unwrap(), "100000 bytes\n");

    // The timeout fires on the slow handler: 408 well before its 5 s, and
    // the handler's green thread is cancelled.
    let started = Instant::now();
    let res = a.get(&url(addr, "/slow")).call().unwrap();
    assert_eq!(res.status(), 408);
    assert!(started.elapsed() < Duration::from_secs(3), "took {:?}", started.elapsed());
    let t = Instant::now();
    while CANCELLED_SLOW.load(Ordering::SeqCst) == 0 {
        assert!(t.elapsed() < Duration::from_secs(10), "the timed-out handler was not cancelled");
        std::thread::sleep(Duration::from_millis(20));
    }
    server.stop().unwrap();
}

/// curl with `--compressed`: the body decoded, and the Content-Encoding it came with.
fn curl_gzip(addr: SocketAddr, path: &str) -> Option<(String, String)> {
    let out = Command::new("curl")
        .args(["-s", "--max-time", "20", "--compressed", "-D", "-", &url(addr, path)])
        .output()
        .ok()?;
    assert!(out.status.success(), "curl failed: {out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let encoding = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-encoding: ").map(str::to_owned))
        .unwrap_or_default();
    Some((encoding, body.to_owned()))
}

#[test]
fn compression_layer_gzips_bytes_and_a_streamed_body() {
    if Command::new("curl").arg("--version").output().is_err() {
        assert!(std::env::var_os("CI").is_none(), "curl is needed under CI");
        eprintln!("skipped: curl not found");
        return;
    }
    // Deflate's state machine (miniz_oxide) takes large frames in a debug
    // build: more than the default 256 KiB green stack.
    let server =
        Server::bind("127.0.0.1:0").workers(1).stack_size(1 << 20).handle_signals(false).start(layered_app()).unwrap();
    let addr = server.local_addr().unwrap();
    let (encoding, body) = curl_gzip(addr, "/big").unwrap();
    assert_eq!(encoding.trim(), "gzip");
    assert_eq!(body, "greenloop ".repeat(2000));
    let (encoding, body) = curl_gzip(addr, "/streamed").unwrap();
    assert_eq!(encoding.trim(), "gzip");
    let want: String = (0..200).map(|i| format!("line {i} of a streamed body that compresses well\n")).collect();
    assert_eq!(body, want);
    // Without Accept-Encoding, the plain bytes.
    let mut res = agent().get(&url(addr, "/streamed")).call().unwrap();
    assert!(res.headers().get("content-encoding").is_none());
    assert_eq!(res.body_mut().read_to_string().unwrap(), want);
    server.stop().unwrap();
}

fn axum_router() -> axum::Router {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/users/{id}", get(|Path(id): Path<u32>| async move { format!("user {id}\n") }))
        .route("/echo", post(|Json(v): Json<Value>| async move { Json(json!({ "got": v, "from": "axum" })) }))
        .route("/ignore", post(|| async { "ignored the body\n" }))
        .route("/count", post(|body: axum::body::Bytes| async move { format!("{} bytes\n", body.len()) }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(1)).await;
                "slept in tokio\n"
            }),
        )
        .route(
            "/panic",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(5)).await;
                panic!("the axum handler failed");
                #[allow(unreachable_code)]
                ""
            }),
        )
}

fn mixed_app() -> Router {
    Router::new()
        .route("/native", get(|_req: Request| "greenloop route\n"))
        .route(
            "/native/layered",
            get(wrap(
                |_req: Request| "one layered route\n",
                SetResponseHeaderLayer::overriding(
                    http::header::HeaderName::from_static("x-only-here"),
                    HeaderValue::from_static("yes"),
                ),
            )),
        )
        .route("/axum/{*rest}", any(service(axum_router()).strip_prefix("/axum")))
}

#[test]
fn an_axum_router_mounted_beside_greenloop_routes() {
    let server = start(mixed_app());
    let addr = server.local_addr().unwrap();
    let a = agent();
    let mut res = a.get(&url(addr, "/native")).call().unwrap();
    assert!(res.headers().get("x-only-here").is_none());
    assert_eq!(res.body_mut().read_to_string().unwrap(), "greenloop route\n");
    // A layer on one route only.
    let mut res = a.get(&url(addr, "/native/layered")).call().unwrap();
    assert_eq!(res.headers()["x-only-here"], "yes");
    assert_eq!(res.body_mut().read_to_string().unwrap(), "one layered route\n");

    let mut res = a.get(&url(addr, "/axum/users/42")).call().unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.body_mut().read_to_string().unwrap(), "user 42\n");

    // axum's own rejection of a bad path parameter.
    let res = a.get(&url(addr, "/axum/users/not-a-number")).call().unwrap();
    assert_eq!(res.status(), 400);

    let mut res = a
        .post(&url(addr, "/axum/echo"))
        .header("Content-Type", "application/json")
        .send(r#"{"name":"ada","n":[1,2,3]}"#)
        .unwrap();
    assert_eq!(res.status(), 200);
    let v: Value = serde_json::from_str(&res.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(v, json!({ "got": { "name": "ada", "n": [1, 2, 3] }, "from": "axum" }));

    // axum's Json rejects a body without the JSON content type: its 415, passed through.
    let res = a.post(&url(addr, "/axum/echo")).send("{}").unwrap();
    assert_eq!(res.status(), 415);

    let res = a.get(&url(addr, "/axum/nowhere")).call().unwrap();
    assert_eq!(res.status(), 404);

    // A large body (under axum's 2 MB default limit) read whole by axum,
    // through the body pipe in 16 KiB slices.
    let big = vec![b'z'; 1_500_000];
    let mut res = a.post(&url(addr, "/axum/count")).send(&big[..]).unwrap();
    assert_eq!(res.body_mut().read_to_string().unwrap(), "1500000 bytes\n");
    // One that axum never reads: answered, with `Connection: close` when
    // the rest is too large to skip, so the client does not reuse a
    // connection the server is about to close.
    for _ in 0..3 {
        let mut res = a.post(&url(addr, "/axum/ignore")).send(&big[..]).unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(res.headers().get("connection").map(|v| v.to_str().unwrap()), Some("close"));
        assert_eq!(res.body_mut().read_to_string().unwrap(), "ignored the body\n");
        let mut res = a.get(&url(addr, "/native")).call().unwrap();
        assert_eq!(res.body_mut().read_to_string().unwrap(), "greenloop route\n");
    }
    server.stop().unwrap();
}

#[test]
fn twenty_slow_axum_requests_on_one_worker_finish_together() {
    let server = start(mixed_app());
    let addr = server.local_addr().unwrap();
    let started = Instant::now();
    let clients: Vec<_> = (0..20)
        .map(|_| {
            std::thread::spawn(move || {
                let mut res = agent().get(&url(addr, "/axum/slow")).call().unwrap();
                (res.status(), res.body_mut().read_to_string().unwrap())
            })
        })
        .collect();
    for c in clients {
        let (status, body) = c.join().unwrap();
        assert_eq!(status, 200);
        assert_eq!(body, "slept in tokio\n");
    }
    // Twenty 1 s waits one after another would take 20 s.
    let took = started.elapsed();
    assert!(took < Duration::from_secs(6), "20 slow requests took {took:?}");
    server.stop().unwrap();
}

#[test]
fn a_panic_inside_the_tower_service_answers_500_for_that_request_only() {
    let server = start(mixed_app());
    let addr = server.local_addr().unwrap();
    let slow = std::thread::spawn(move || agent().get(&url(addr, "/axum/slow")).call().unwrap().status());
    std::thread::sleep(Duration::from_millis(100));
    let res = agent().get(&url(addr, "/axum/panic")).call().unwrap();
    assert_eq!(res.status(), 500);
    // The request in flight on the same worker, and the next ones, are fine.
    assert_eq!(slow.join().unwrap(), 200);
    let mut res = agent().get(&url(addr, "/axum/users/7")).call().unwrap();
    assert_eq!(res.body_mut().read_to_string().unwrap(), "user 7\n");
    // A raw connection too (the worker's loop is alive).
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET /native HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(out.starts_with("HTTP/1.1 200") && out.ends_with("greenloop route\n"), "{out}");
    server.stop().unwrap();
}

#[test]
fn stopping_the_server_ends_tower_requests_still_in_flight() {
    let app = Router::new().route("/axum/{*rest}", any(service(axum_router()).strip_prefix("/axum"))).route(
        "/layered",
        get(wrap(
            |_req: Request| {
                greenloop::sleep(Duration::from_secs(60));
                "late\n"
            },
            SetResponseHeaderLayer::overriding(
                http::header::HeaderName::from_static("x-layered"),
                HeaderValue::from_static("yes"),
            ),
        )),
    );
    let server = Server::bind("127.0.0.1:0")
        .workers(1)
        .grace_period(Duration::from_millis(300))
        .handle_signals(false)
        .start(app)
        .unwrap();
    let addr = server.local_addr().unwrap();
    let clients: Vec<_> = ["/layered", "/axum/slow", "/layered"]
        .into_iter()
        .map(|path| std::thread::spawn(move || agent().get(&url(addr, path)).call().map(|r| r.status())))
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let started = Instant::now();
    server.stop().unwrap();
    // The grace period, then the parked green threads (a layered handler's,
    // its caller's in block_on, a body pipe's) are unwound: no hang.
    assert!(started.elapsed() < Duration::from_secs(10), "stop took {:?}", started.elapsed());
    for c in clients {
        // Answered in the grace period, or cut off: either way, not hung.
        let _ = c.join().unwrap();
    }
}
