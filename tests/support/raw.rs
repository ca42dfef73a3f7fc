//! A raw HTTP/1.1 client over `std::net::TcpStream`, for checks on the exact
//! bytes a server sends: a strict response reader (CRLF lines, one framing),
//! a connection with timeouts on every read and write, and one-shot
//! exchanges that read a whole `Connection: close` answer.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// Longest any single socket read may wait before the test fails.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn has_header(&self, name: &str) -> bool {
        self.header(name).is_some()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The response announces that the connection closes after it.
    pub fn closes(&self) -> bool {
        self.header("connection").is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("close")))
    }
}

/// Reads one response from `r`. `head_request`: it answers a HEAD (no body).
/// The body is framed by `Transfer-Encoding: chunked`, `Content-Length`, or EOF.
pub fn read_response(r: &mut impl BufRead, head_request: bool) -> io::Result<Resp> {
    let status_line = read_line(r)?;
    if status_line.is_empty() {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "no response (connection closed)"));
    }
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or("");
    assert_eq!(version, "HTTP/1.1", "status line {status_line:?}");
    let status: u16 = parts.next().and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("bad {status_line:?}"));
    let mut headers = Vec::new();
    loop {
        let line = read_line(r)?;
        if line.is_empty() {
            break;
        }
        let (n, v) = line.split_once(':').unwrap_or_else(|| panic!("bad header line {line:?}"));
        assert!(!n.ends_with(' '), "whitespace before colon in {line:?}");
        headers.push((n.to_owned(), v.trim().to_owned()));
    }
    let mut resp = Resp { status, headers, body: Vec::new() };
    if head_request || (100..200).contains(&status) || status == 204 || status == 304 {
        return Ok(resp);
    }
    if resp.header("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        assert!(!resp.has_header("content-length"), "both framings in {resp:?}");
        loop {
            let size_line = read_line(r)?;
            let size_hex = size_line.split(';').next().unwrap().trim();
            let size = usize::from_str_radix(size_hex, 16)
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, format!("chunk size {size_line:?}")))?;
            if size == 0 {
                // Trailers, then the empty line.
                while !read_line(r)?.is_empty() {}
                break;
            }
            let start = resp.body.len();
            resp.body.resize(start + size, 0);
            r.read_exact(&mut resp.body[start..])?;
            let crlf = read_line(r)?;
            assert!(crlf.is_empty(), "chunk not followed by CRLF: {crlf:?}");
        }
    } else if let Some(cl) = resp.header("content-length") {
        let n: usize = cl.parse().unwrap_or_else(|_| panic!("bad Content-Length {cl:?}"));
        resp.body.resize(n, 0);
        r.read_exact(&mut resp.body)?;
    } else {
        r.read_to_end(&mut resp.body)?;
    }
    Ok(resp)
}

/// One CRLF-terminated line without its CRLF; empty at EOF.
pub fn read_line(r: &mut impl BufRead) -> io::Result<String> {
    let mut line = Vec::new();
    r.read_until(b'\n', &mut line)?;
    if line.is_empty() {
        return Ok(String::new());
    }
    assert!(line.ends_with(b"\r\n"), "line not ended by CRLF: {:?}", String::from_utf8_lossy(&line));
    line.truncate(line.len() - 2);
    String::from_utf8(line).map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "non-UTF-8 line"))
}

/// A raw client connection.
pub struct RawClient {
    pub r: BufReader<TcpStream>,
    pub w: TcpStream,
}

impl RawClient {
    pub fn connect(addr: SocketAddr) -> RawClient {
        let s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
        RawClient { w: s.try_clone().unwrap(), r: BufReader::new(s) }
    }

    pub fn send(&mut self, bytes: impl AsRef<[u8]>) {
        self.w.write_all(bytes.as_ref()).expect("write request");
    }

    pub fn response(&mut self) -> Resp {
        read_response(&mut self.r, false).expect("read a response")
    }

    pub fn head_response(&mut self) -> Resp {
        read_response(&mut self.r, true).expect("read a HEAD response")
    }

    /// Everything until the server closes (a reset counts as the end).
    pub fn read_to_end(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut buf = [0u8; 8192];
        loop {
            match self.r.read(&mut buf) {
                Ok(0) => return out,
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return out,
                Err(e) => panic!("waiting for the server to close: {e} (after {} bytes)", out.len()),
            }
        }
    }

    /// Asserts the server closes the connection without sending anything more.
    pub fn expect_closed(&mut self) {
        let rest = self.read_to_end();
        assert!(rest.is_empty(), "expected the connection to close, got {:?}", String::from_utf8_lossy(&rest));
    }

    /// Whether bytes are waiting right now (never blocks).
    pub fn has_pending_bytes(&mut self) -> bool {
        if !self.r.buffer().is_empty() {
            return true;
        }
        let s = self.r.get_ref();
        s.set_nonblocking(true).unwrap();
        let mut b = [0u8; 1];
        let r = s.peek(&mut b);
        s.set_nonblocking(false).unwrap();
        match r {
            Ok(n) => n > 0,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => false,
            Err(e) => panic!("peek: {e}"),
        }
    }
}

/// Sends `GET path` with `Connection: close` and reads the whole answer.
pub fn exchange(mut s: impl Read + Write, path: &str) -> (u16, String) {
    write!(s, "GET {path} HTTP/1.1\r\nHost: demo\r\nConnection: close\r\n\r\n").unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    parse(&out)
}

/// Sends a raw request on a fresh connection to `addr` and reads the whole
/// answer (the request should say `Connection: close`): (status, body).
pub fn request(addr: SocketAddr, raw: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(raw.as_bytes()).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    parse(&out)
}

pub fn parse(out: &[u8]) -> (u16, String) {
    let text = String::from_utf8_lossy(out).into_owned();
    let status = text.get(9..12).and_then(|c| c.parse().ok()).unwrap_or_else(|| panic!("bad response: {text:?}"));
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}
