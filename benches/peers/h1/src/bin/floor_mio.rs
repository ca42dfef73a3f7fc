//! The loopback floor: a mio event loop on one thread that does no HTTP work.
//! It reads whatever arrives and, for each request end (`\r\n\r\n`) found,
//! writes one canned `200 OK` with `Hello, World!`, whatever the request was.
//! Any real server pays this (the system calls, the event loop) plus its own
//! parsing, routing and response building. No `/sleep`. Argument: the port.
use std::io::{ErrorKind, Read, Write};
use std::net::SocketAddr;

use memchr::memmem;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};

/// The one response, byte for byte, sent for every request.
const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\nContent-Type: text/plain\r\n\r\nHello, World!";
/// What ends a request head (no request here has a body).
const END: &[u8; 4] = b"\r\n\r\n";
/// The listener's token; a connection's is its slot index plus one.
const LISTENER: Token = Token(0);

/// One accepted connection.
struct Conn {
    stream: TcpStream,
    /// How many bytes of `END` the previous read ended with (0 to 3), so a
    /// request end split across two reads is still counted once.
    partial: usize,
    /// Responses the socket did not take yet; sent on the next writable event.
    pending: Vec<u8>,
}

/// Counts the request ends in `data`, the continuation of a stream whose
/// previous bytes ended with `partial` bytes of `END`; updates `partial`.
fn count_ends(finder: &memmem::Finder<'_>, partial: &mut usize, data: &[u8]) -> usize {
    let mut ends = 0;
    let mut rest = data;
    if *partial > 0 {
        let need = &END[*partial..];
        let k = need.len().min(data.len());
        if data[..k] == need[..k] {
            if k < need.len() {
                *partial += k;
                return 0;
            }
            ends += 1;
            rest = &data[k..];
        }
        *partial = 0;
    }
    let mut tail_from = 0;
    for at in finder.find_iter(rest) {
        ends += 1;
        tail_from = at + END.len();
    }
    let tail = &rest[tail_from..];
    *partial = (1..END.len()).rev().find(|&p| tail.ends_with(&END[..p])).unwrap_or(0);
    ends
}

/// Writes as much of `pending` as the socket takes; false when the connection is done for.
fn flush(stream: &mut TcpStream, pending: &mut Vec<u8>) -> bool {
    let mut sent = 0;
    while sent < pending.len() {
        match stream.write(&pending[sent..]) {
            Ok(0) => return false,
            Ok(n) => sent += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
    pending.drain(..sent);
    true
}

/// Reads until the socket is drained (mio is edge-triggered), answering each
/// request end; false when the peer closed or the connection failed.
fn serve(conn: &mut Conn, buf: &mut [u8], finder: &memmem::Finder<'_>) -> bool {
    loop {
        match conn.stream.read(buf) {
            Ok(0) => return false,
            Ok(n) => {
                let ends = count_ends(finder, &mut conn.partial, &buf[..n]);
                for _ in 0..ends {
                    conn.pending.extend_from_slice(RESPONSE);
                }
                if !flush(&mut conn.stream, &mut conn.pending) {
                    return false;
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
}

fn main() -> std::io::Result<()> {
    let port: u16 = std::env::args().nth(1).and_then(|p| p.parse().ok()).unwrap_or(8080);
    let mut listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port)))?;
    let mut poll = Poll::new()?;
    poll.registry().register(&mut listener, LISTENER, Interest::READABLE)?;
    let mut events = Events::with_capacity(1024);
    let mut conns: Vec<Option<Conn>> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let finder = memmem::Finder::new(END);
    loop {
        if let Err(e) = poll.poll(&mut events, None) {
            if e.kind() == ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        for event in &events {
            if event.token() == LISTENER {
                loop {
                    match listener.accept() {
                        Ok((mut stream, _)) => {
                            let _ = stream.set_nodelay(true);
                            let slot = free.pop().unwrap_or_else(|| {
                                conns.push(None);
                                conns.len() - 1
                            });
                            let interest = Interest::READABLE | Interest::WRITABLE;
                            if poll.registry().register(&mut stream, Token(slot + 1), interest).is_err() {
                                free.push(slot);
                                continue;
                            }
                            conns[slot] = Some(Conn { stream, partial: 0, pending: Vec::new() });
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        Err(_) => break,
                    }
                }
                continue;
            }
            let slot = event.token().0 - 1;
            let Some(conn) = conns.get_mut(slot).and_then(Option::as_mut) else { continue };
            let mut open = true;
            if event.is_writable() && !conn.pending.is_empty() {
                open = flush(&mut conn.stream, &mut conn.pending);
            }
            if open && (event.is_readable() || event.is_read_closed()) {
                open = serve(conn, &mut buf, &finder);
            }
            if !open {
                if let Some(mut conn) = conns[slot].take() {
                    let _ = poll.registry().deregister(&mut conn.stream);
                }
                free.push(slot);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ends_in(chunks: &[&[u8]]) -> usize {
        let finder = memmem::Finder::new(END);
        let mut partial = 0;
        chunks.iter().map(|c| count_ends(&finder, &mut partial, c)).sum()
    }

    #[test]
    fn request_ends_are_counted_once_however_the_reads_split_them() {
        let two = b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\n\r\n";
        assert_eq!(ends_in(&[two]), 2);
        for cut in 0..=two.len() {
            assert_eq!(ends_in(&[&two[..cut], &two[cut..]]), 2, "cut at {cut}");
        }
        let bytes: Vec<&[u8]> = two.chunks(1).collect();
        assert_eq!(ends_in(&bytes), 2);
        assert_eq!(ends_in(&[b"a\r\n\r", b"\r\n\r\n"]), 1);
        assert_eq!(ends_in(&[b"a\r\n", b"\r", b"x"]), 0);
    }
}
