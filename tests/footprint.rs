//! Stack footprint: what a parked connection keeps resident.
//!
//! Every stack page a green thread has touched stays resident while it is
//! parked, so the server's frames under a handler decide whether a
//! connection whose handler sleeps costs one page or two. These tests pin
//! that down. Frame sizes only mean something in an optimised build, so the
//! server bound runs under `cargo test --release` (which `.ci/run` does);
//! in a debug build it only checks that the figure is reported.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use greenloop::http::{IntoResponse, Request, Response, Router, Server, get};

/// Bytes of stack the server itself may use under a handler in an optimised
/// build: with the handler's own frame and the park below it, a sleeping
/// handler with a frame of up to about 1 KiB stays within one 4 KiB page.
/// Measured: 2817 bytes (it was 4.3 KiB before the request was passed down
/// in place and the connection's frames were split).
const SERVER_FRAMES_MAX: usize = 3072;

#[test]
fn stack_used_is_none_outside_a_green_thread_and_grows_with_depth() {
    assert_eq!(greenloop::inspect::stack_used(), None);
    greenloop::run(|| {
        let shallow = greenloop::inspect::stack_used().expect("inside a green thread");
        let deeper = nested(4096);
        assert!(shallow > 0, "some stack is in use at the entry: {shallow}");
        assert!(deeper >= shallow + 4096, "a 4 KiB frame deeper must show: {shallow} -> {deeper}");
        let spawned = greenloop::spawn(|| greenloop::inspect::stack_used().unwrap()).join().unwrap();
        assert!(spawned < deeper, "each green thread counts from its own stack: {spawned} vs {deeper}");
    });
}

#[inline(never)]
fn nested(bytes: usize) -> usize {
    let pad = std::hint::black_box([1u8; 4096]);
    let used = greenloop::inspect::stack_used().unwrap();
    std::hint::black_box(&pad);
    assert!(bytes <= pad.len());
    used
}

fn measured(_req: Request) -> Response {
    greenloop::inspect::stack_used().expect("handlers run on green threads").to_string().into_response()
}

#[test]
fn the_server_keeps_its_frames_under_a_handler_small() {
    let app = Router::new().route("/depth", get(measured));
    let server = Server::bind("127.0.0.1:0").handle_signals(false).start(app).expect("server starts");
    let mut s = TcpStream::connect(server.local_addr().unwrap()).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(b"GET /depth HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let mut response = String::new();
    s.read_to_string(&mut response).unwrap();
    server.stop().unwrap();
    let body = response.split("\r\n\r\n").nth(1).expect("a body");
    let used: usize = body.trim().parse().expect("a number of bytes");
    eprintln!("{used} bytes of stack under a handler");
    assert!(used > 512, "implausibly little stack under a handler: {used}");
    if cfg!(debug_assertions) {
        eprintln!("debug build: {used} bytes under a handler (bound checked in release builds only)");
    } else {
        assert!(
            used <= SERVER_FRAMES_MAX,
            "the server uses {used} bytes of stack under a handler (bound {SERVER_FRAMES_MAX}): \
             a parked handler would touch a second page"
        );
    }
}
