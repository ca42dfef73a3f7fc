//! Raw HTTP servers on std threads, for client tests that need a server
//! to misbehave exactly: count connections, answer with fixed bytes, never
//! answer, close at chosen moments.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

/// A raw server: a std thread accepting connections, each served by `serve`
/// on its own thread. Returns the address and a count of accepted connections.
pub fn raw_server(serve: impl Fn(TcpStream) + Send + Sync + 'static) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    let serve = Arc::new(serve);
    thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            count.fetch_add(1, Ordering::SeqCst);
            let serve = serve.clone();
            thread::spawn(move || {
                stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                serve(stream)
            });
        }
    });
    (addr, accepted)
}

/// Reads one request head (and skips a `Content-Length` body); `None` at EOF.
pub fn read_request(r: &mut BufReader<TcpStream>) -> Option<String> {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).ok()? == 0 {
            return None;
        }
        head.push_str(&line);
        if line == "\r\n" {
            break;
        }
    }
    let len = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap()))
        .unwrap_or(0u64);
    io::copy(&mut r.by_ref().take(len), &mut io::sink()).ok()?;
    Some(head)
}

/// A raw server that answers every request on a connection with `response`.
pub fn raw_responder(response: &'static [u8]) -> (SocketAddr, Arc<AtomicUsize>) {
    raw_server(move |stream| {
        let mut w = stream.try_clone().unwrap();
        let mut r = BufReader::new(stream);
        while read_request(&mut r).is_some() {
            if w.write_all(response).is_err() {
                return;
            }
        }
    })
}
