//! The burst client of benches/scripts/burst_ab.sh: CONNS connections opened
//! at once to ADDR, each sending one `GET PATH` (a sleeping route, such as
//! `/sleep?ms=1000`) and reading its whole answer, all from one thread with
//! mio. A server that parks each request cheaply answers the whole burst in
//! about the sleep; one that holds a thread per request, or drops
//! connections from its listen backlog, takes longer or fails some.
//!
//! Arguments: ADDR PATH CONNS TIMEOUT_MS. Prints one line:
//! `conns=N ok=N errors=N wall_ms=N`: answers with status 200, connections
//! that failed, closed early or had no answer within TIMEOUT_MS, and the
//! time from the first connect to the last answer (or to the timeout).
use std::io::{ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use memchr::memmem;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

/// One burst connection, from connect to its answer.
struct Conn {
    stream: TcpStream,
    /// Bytes of the request written so far.
    sent: usize,
    /// The answer read so far.
    answer: Vec<u8>,
}

/// What an answer read so far amounts to.
enum Answer {
    /// More bytes are due.
    Partial,
    /// Whole; true when its status is 200.
    Done(bool),
}

/// Whether `answer` holds a whole response: a head and `Content-Length` bytes of body.
fn check(answer: &[u8]) -> Answer {
    let Some(head_end) = memmem::find(answer, b"\r\n\r\n") else { return Answer::Partial };
    let head = String::from_utf8_lossy(&answer[..head_end]);
    let ok = head.starts_with("HTTP/1.1 200") || head.starts_with("HTTP/1.0 200");
    let length = head
        .lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse::<usize>().ok())
        .unwrap_or(0);
    if answer.len() >= head_end + 4 + length { Answer::Done(ok) } else { Answer::Partial }
}

/// Advances one connection on a readiness event: `Some(ok)` once it is over.
fn drive(conn: &mut Conn, request: &[u8]) -> Option<bool> {
    if let Ok(Some(_)) | Err(_) = conn.stream.take_error() {
        return Some(false);
    }
    while conn.sent < request.len() {
        match conn.stream.write(&request[conn.sent..]) {
            Ok(n) => conn.sent += n,
            // Not connected yet, or the socket is full: the next event goes on.
            Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::NotConnected => return None,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return Some(false),
        }
    }
    let mut buf = [0u8; 4096];
    loop {
        match conn.stream.read(&mut buf) {
            Ok(0) => return Some(false),
            Ok(n) => {
                conn.answer.extend_from_slice(&buf[..n]);
                if let Answer::Done(ok) = check(&conn.answer) {
                    return Some(ok);
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock || e.kind() == ErrorKind::NotConnected => return None,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return Some(false),
        }
    }
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 5 {
        eprintln!("usage: sleep_burst ADDR PATH CONNS TIMEOUT_MS");
        std::process::exit(2);
    }
    let addr: SocketAddr = args[1].parse().expect("ADDR: ip:port");
    let path = &args[2];
    let count: usize = args[3].parse().expect("CONNS: a number");
    let timeout = Duration::from_millis(args[4].parse().expect("TIMEOUT_MS: a number"));
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").into_bytes();

    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(1024);
    let start = Instant::now();
    let deadline = start + timeout;
    let mut conns: Vec<Option<Conn>> = Vec::with_capacity(count);
    let (mut ok, mut errors) = (0usize, 0usize);
    for i in 0..count {
        match TcpStream::connect(addr) {
            Ok(mut stream) => {
                let interest = Interest::READABLE | Interest::WRITABLE;
                if poll.registry().register(&mut stream, Token(i), interest).is_ok() {
                    conns.push(Some(Conn { stream, sent: 0, answer: Vec::new() }));
                    continue;
                }
                errors += 1;
            }
            Err(_) => errors += 1,
        }
        conns.push(None);
    }
    let mut open = conns.iter().filter(|c| c.is_some()).count();
    let mut last_answer = start;
    while open > 0 {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        if let Err(e) = poll.poll(&mut events, Some(deadline - now)) {
            if e.kind() == ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        for event in &events {
            let slot = &mut conns[event.token().0];
            let Some(conn) = slot.as_mut() else { continue };
            if let Some(answered) = drive(conn, &request) {
                if answered {
                    ok += 1;
                } else {
                    errors += 1;
                }
                last_answer = Instant::now();
                *slot = None;
                open -= 1;
            }
        }
    }
    let wall = if open > 0 { deadline - start } else { last_answer - start };
    errors += open;
    println!("conns={count} ok={ok} errors={errors} wall_ms={}", wall.as_millis());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_is_whole_once_its_body_has_arrived() {
        let whole = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nslept";
        assert!(matches!(check(whole), Answer::Done(true)));
        assert!(matches!(check(&whole[..whole.len() - 1]), Answer::Partial));
        assert!(matches!(check(b"HTTP/1.1 200 OK\r\nContent-Len"), Answer::Partial));
        assert!(matches!(check(b"HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n"), Answer::Done(false)));
    }
}
