//! The chat bus on NATS, with a small client for the part of NATS' text
//! protocol it needs (`CONNECT`, `SUB`, `PUB`, `MSG`, `PING`/`PONG`) on
//! green sockets. Why not `async-nats` through the tokio bridge: see
//! docs/DEPLOYMENT.md, "Chat across instances".
//!
//! Everything read is bounded: a control line by [`MAX_LINE`], a payload by
//! [`MAX_PAYLOAD`]; a server sending more is a protocol error, not memory.

use std::io::{self, Read, Write};
use std::time::Duration;

use greenloop::net::TcpStream;

use super::SUBJECT;
use super::wire::MAX_PAYLOAD;

/// Longest control line accepted (the server's own default limit, 4 KiB).
const MAX_LINE: usize = 4096;

/// Connecting and the handshake may take this long.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A subscriber that hears nothing for this long (the server pings every
/// two minutes by default) counts its connection as lost.
const SILENCE: Duration = Duration::from_secs(300);

/// One connection, with what was read and not yet parsed.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
}

fn protocol(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

impl Conn {
    /// Connects, reads the server's `INFO`, sends `CONNECT` and waits for
    /// the `PONG` that confirms it.
    fn open(host: &str, port: u16) -> io::Result<Conn> {
        let addrs = greenloop::net::resolve_timeout(&format!("{host}:{port}"), CONNECT_TIMEOUT)?;
        let mut last = io::Error::new(io::ErrorKind::NotFound, format!("{host} has no address"));
        let mut stream = None;
        for a in addrs {
            match TcpStream::connect_timeout(&a, CONNECT_TIMEOUT) {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => last = e,
            }
        }
        let mut stream = stream.ok_or(last)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(CONNECT_TIMEOUT))?;
        stream.set_write_timeout(Some(CONNECT_TIMEOUT))?;
        let mut c = Conn { stream, buf: Vec::with_capacity(4096) };
        let info = c.read_line()?;
        if !info.starts_with("INFO ") {
            return Err(protocol(format!("expected INFO from the server, got {info:?}")));
        }
        let connect = format!(
            "CONNECT {{\"verbose\":false,\"pedantic\":false,\"name\":\"greenloop-chat\",\"lang\":\"rust\",\"version\":\"{}\",\"protocol\":0}}\r\nPING\r\n",
            env!("CARGO_PKG_VERSION")
        );
        c.stream.write_all(connect.as_bytes())?;
        loop {
            let line = c.read_line()?;
            match line.as_str() {
                "PONG" => return Ok(c),
                "PING" => c.stream.write_all(b"PONG\r\n")?,
                l if l.starts_with("-ERR") => return Err(io::Error::other(format!("the server refused: {l}"))),
                _ => {}
            }
        }
    }

    /// Reads until `buf` holds `n` bytes.
    fn fill(&mut self, n: usize) -> io::Result<()> {
        let mut chunk = [0u8; 4096];
        while self.buf.len() < n {
            let got = self.stream.read(&mut chunk)?;
            if got == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed by the server"));
            }
            self.buf.extend_from_slice(&chunk[..got]);
        }
        Ok(())
    }

    /// One control line, without its CRLF.
    fn read_line(&mut self) -> io::Result<String> {
        loop {
            if let Some(end) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = String::from_utf8_lossy(&self.buf[..end]).into_owned();
                self.buf.drain(..end + 2);
                return Ok(line);
            }
            if self.buf.len() > MAX_LINE {
                return Err(protocol(format!("a control line longer than {MAX_LINE} bytes")));
            }
            let have = self.buf.len();
            self.fill(have + 1)?;
        }
    }

    /// A message's payload of `n` bytes and its CRLF.
    fn read_payload(&mut self, n: usize) -> io::Result<Vec<u8>> {
        self.fill(n + 2)?;
        if &self.buf[n..n + 2] != b"\r\n" {
            return Err(protocol("a payload not followed by CRLF".into()));
        }
        let payload = self.buf[..n].to_vec();
        self.buf.drain(..n + 2);
        Ok(payload)
    }
}

/// The payload size of `MSG <subject> <sid> [reply-to] <bytes>`.
fn msg_size(line: &str) -> io::Result<usize> {
    let parts: Vec<&str> = line.split_ascii_whitespace().collect();
    let n = match parts.len() {
        4 | 5 => parts[parts.len() - 1].parse::<usize>().ok(),
        _ => None,
    };
    match n {
        Some(n) if n <= MAX_PAYLOAD => Ok(n),
        Some(n) => Err(protocol(format!("a message of {n} bytes (at most {MAX_PAYLOAD})"))),
        None => Err(protocol(format!("a malformed MSG line {line:?}"))),
    }
}

/// Subscribes and hands every payload to `on_message` until the connection
/// fails; returns why.
pub fn subscribe(
    host: &str,
    port: u16,
    on_subscribed: &mut dyn FnMut(),
    on_message: &mut dyn FnMut(&[u8]),
) -> io::Error {
    let mut run = || -> io::Result<()> {
        let mut c = Conn::open(host, port)?;
        // The PONG confirms the SUB was processed: published messages reach us from here on.
        c.stream.write_all(format!("SUB {SUBJECT} 1\r\nPING\r\n").as_bytes())?;
        c.stream.set_read_timeout(Some(SILENCE))?;
        let mut subscribed = false;
        loop {
            let line = c.read_line()?;
            if line.starts_with("MSG ") {
                let n = msg_size(&line)?;
                let payload = c.read_payload(n)?;
                on_message(&payload);
            } else if line == "PING" {
                c.stream.write_all(b"PONG\r\n")?;
            } else if line == "PONG" {
                if !subscribed {
                    subscribed = true;
                    on_subscribed();
                }
            } else if line.starts_with("-ERR") {
                return Err(io::Error::other(format!("the server says {line}")));
            }
            // +OK, INFO (cluster changes): nothing to do.
        }
    };
    match run() {
        Ok(()) => unreachable!("the read loop ends only with an error"),
        Err(e) => e,
    }
}

/// A connection that publishes.
pub struct Publisher(Conn);

impl Publisher {
    pub fn connect(host: &str, port: u16) -> io::Result<Publisher> {
        Conn::open(host, port).map(Publisher)
    }

    pub fn publish(&mut self, payload: &[u8]) -> io::Result<()> {
        let mut frame = Vec::with_capacity(payload.len() + 48);
        frame.extend_from_slice(format!("PUB {SUBJECT} {}\r\n", payload.len()).as_bytes());
        frame.extend_from_slice(payload);
        frame.extend_from_slice(b"\r\n");
        self.0.stream.write_all(&frame)?;
        self.idle()
    }

    /// Reads whatever the server sent without waiting: answers its pings,
    /// fails on an error or a closed connection.
    pub fn idle(&mut self) -> io::Result<()> {
        let mut chunk = [0u8; 4096];
        loop {
            match self.0.stream.try_read(&mut chunk) {
                Ok(0) => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "connection closed by the server")),
                Ok(n) => self.0.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
            if self.0.buf.len() > MAX_LINE {
                return Err(protocol("the server sends a publisher more than it should".into()));
            }
        }
        while let Some(end) = self.0.buf.windows(2).position(|w| w == b"\r\n") {
            let line = String::from_utf8_lossy(&self.0.buf[..end]).into_owned();
            self.0.buf.drain(..end + 2);
            if line == "PING" {
                self.0.stream.write_all(b"PONG\r\n")?;
            } else if line.starts_with("-ERR") {
                return Err(io::Error::other(format!("the server says {line}")));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn msg_lines() {
        assert_eq!(msg_size("MSG greenloop.chat 1 5").unwrap(), 5);
        assert_eq!(msg_size("MSG greenloop.chat 1 _INBOX.x 12").unwrap(), 12);
        assert!(msg_size("MSG greenloop.chat 1").is_err());
        assert!(msg_size("MSG a 1 nope").is_err());
        assert!(msg_size(&format!("MSG a 1 {}", MAX_PAYLOAD + 1)).unwrap_err().to_string().contains("at most"));
    }
}
