//! The streaming `multipart/form-data` reader: [`Multipart`] finds the
//! parts, [`Part`] reads one part's bytes.

use std::borrow::Cow;
use std::fmt;
use std::io::{self, Read};

use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use memchr::memmem;

use super::disposition;
use crate::http::body::Body;
use crate::http::body_error::BodyError;
use crate::http::request::Request;
use crate::http::typed::Rejection;

/// Bytes asked of the body per read.
const CHUNK: usize = 64 * 1024;
/// The longest header block a part may have.
const MAX_HEADER_BYTES: usize = 8 * 1024;
/// Headers a part may have.
const MAX_HEADERS: usize = 16;
/// The longest boundary RFC 2046 allows.
const MAX_BOUNDARY: usize = 70;

/// A `multipart/form-data` request body, read one part at a time with
/// [`next_part`](Multipart::next_part). See the [module docs](super) for
/// an example and for what each kind of bad input answers.
///
/// Limits (defaults in parentheses): parts (100), bytes per part (8 MiB),
/// bytes of the whole body (32 MiB). The server's
/// [`Limits::max_body_bytes`](crate::http::Limits) applies as well.
pub struct Multipart {
    body: Body,
    /// Unconsumed input is `buf[pos..]`.
    buf: Vec<u8>,
    pos: usize,
    /// `CRLF--boundary`.
    delimiter: Vec<u8>,
    state: State,
    eof: bool,
    parts: usize,
    total: u64,
    max_parts: usize,
    max_part_bytes: u64,
    max_total_bytes: u64,
    /// Bytes asked of the body per read ([`CHUNK`]; tests use a few).
    chunk: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the first delimiter.
    Preamble,
    /// Just after a delimiter: the close marker `--`, or a part's headers.
    Boundary,
    /// Inside a part's body, this many bytes of it read.
    Body(u64),
    /// After the close delimiter.
    Done,
}

impl fmt::Debug for Multipart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Multipart").field("parts", &self.parts).field("total", &self.total).finish_non_exhaustive()
    }
}

fn error(status: StatusCode, reason: impl Into<Cow<'static, str>>) -> io::Error {
    BodyError::io(status, reason.into())
}

fn rejection(e: io::Error) -> Rejection {
    Rejection::from_body_error(e, "multipart body")
}

impl Multipart {
    /// The request's body as multipart form data; the body is taken out of
    /// the request (its headers and extensions stay). 415 when the request
    /// is not `multipart/form-data`, 400 without a usable boundary.
    pub fn from_request(req: &mut Request) -> Result<Multipart, Rejection> {
        let content_type = req.header(header::CONTENT_TYPE).and_then(|v| std::str::from_utf8(v).ok()).unwrap_or("");
        let (media, params) = disposition::split(content_type);
        if !media.eq_ignore_ascii_case("multipart/form-data") {
            return Err(crate::http::typed::unsupported(req, "multipart/form-data"));
        }
        let boundary = match disposition::param(&params, "boundary") {
            Some(b) if !b.is_empty() && b.len() <= MAX_BOUNDARY => b.to_string(),
            Some(_) => return Err(Rejection::bad_request("multipart boundary must be 1 to 70 characters")),
            None => return Err(Rejection::bad_request("multipart/form-data without a boundary parameter")),
        };
        let body = std::mem::take(req.body_mut());
        Ok(Multipart::new(body, &boundary))
    }

    /// A multipart body delimited by `boundary` (the `Content-Type`'s
    /// parameter), for bodies that do not come from a request.
    pub fn new(body: Body, boundary: &str) -> Multipart {
        let mut delimiter = b"\r\n--".to_vec();
        delimiter.extend_from_slice(boundary.as_bytes());
        Multipart {
            body,
            // The first delimiter may open the body without a CRLF before
            // it: one put in front makes every delimiter look the same.
            buf: b"\r\n".to_vec(),
            pos: 0,
            delimiter,
            state: State::Preamble,
            eof: false,
            parts: 0,
            total: 0,
            max_parts: 100,
            max_part_bytes: 8 << 20,
            max_total_bytes: 32 << 20,
            chunk: CHUNK,
        }
    }

    /// The most parts the body may have (more is a 413).
    pub fn max_parts(mut self, n: usize) -> Multipart {
        self.max_parts = n;
        self
    }

    /// The most bytes one part's content may have (more is a 413 when read).
    pub fn max_part_bytes(mut self, n: u64) -> Multipart {
        self.max_part_bytes = n;
        self
    }

    /// The most bytes the whole body may have (more is a 413 when read;
    /// at once when `Content-Length` already says so).
    pub fn max_total_bytes(mut self, n: u64) -> Multipart {
        self.max_total_bytes = n;
        self
    }

    /// The next part, after skipping what is left of the current one;
    /// `None` after the last. Parks while the body is in flight.
    pub fn next_part(&mut self) -> Result<Option<Part<'_>>, Rejection> {
        if self.state == State::Preamble {
            if let Some(n) = self.body.content_length()
                && n > self.max_total_bytes
            {
                return Err(Rejection::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("multipart body of {n} bytes is over the {}-byte limit", self.max_total_bytes),
                ));
            }
            self.skip_to_delimiter().map_err(rejection)?;
        }
        if let State::Body(_) = self.state {
            let mut sink = [0u8; 8192];
            while self.read_body(&mut sink, "").map_err(rejection)? > 0 {}
        }
        if self.state == State::Done {
            return Ok(None);
        }
        // After a delimiter: `--` closes, else optional padding and CRLF.
        self.need(2).map_err(rejection)?;
        if self.buf[self.pos..].starts_with(b"--") {
            self.state = State::Done;
            return Ok(None);
        }
        loop {
            self.need(2).map_err(rejection)?;
            match self.buf[self.pos] {
                b' ' | b'\t' => self.pos += 1,
                b'\r' if self.buf[self.pos + 1] == b'\n' => {
                    self.pos += 2;
                    break;
                }
                _ => return Err(Rejection::bad_request("multipart boundary line not followed by CRLF")),
            }
        }
        self.parts += 1;
        if self.parts > self.max_parts {
            return Err(Rejection::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("more than the {} parts allowed in this form", self.max_parts),
            ));
        }
        let headers = self.read_headers()?;
        let index = self.parts;
        let disposition = headers.get(header::CONTENT_DISPOSITION).and_then(|v| v.to_str().ok()).unwrap_or("");
        let (kind, params) = disposition::split(disposition);
        let name = match disposition::param(&params, "name") {
            Some(name) if kind.eq_ignore_ascii_case("form-data") => name.to_string(),
            _ => {
                return Err(Rejection::bad_request(format!(
                    "multipart part {index} has no `Content-Disposition: form-data; name=...`"
                )));
            }
        };
        let filename = disposition::param(&params, "filename").map(str::to_string);
        self.state = State::Body(0);
        Ok(Some(Part { form: self, name, filename, headers }))
    }

    /// Reads the part headers up to their blank line.
    fn read_headers(&mut self) -> Result<HeaderMap, Rejection> {
        loop {
            let mut slots = [httparse::EMPTY_HEADER; MAX_HEADERS];
            match httparse::parse_headers(&self.buf[self.pos..], &mut slots) {
                Ok(httparse::Status::Complete((used, parsed))) => {
                    let mut headers = HeaderMap::new();
                    for h in parsed {
                        let (Ok(name), Ok(value)) = (HeaderName::try_from(h.name), HeaderValue::from_bytes(h.value))
                        else {
                            return Err(Rejection::bad_request(format!(
                                "multipart part {} has a malformed header",
                                self.parts
                            )));
                        };
                        headers.append(name, value);
                    }
                    self.pos += used;
                    return Ok(headers);
                }
                Ok(httparse::Status::Partial) if self.buf.len() - self.pos > MAX_HEADER_BYTES => {
                    return Err(Rejection::bad_request(format!(
                        "multipart part {} has headers longer than {MAX_HEADER_BYTES} bytes",
                        self.parts
                    )));
                }
                Ok(httparse::Status::Partial) => {
                    if !self.fill().map_err(rejection)? {
                        return Err(Rejection::bad_request(format!(
                            "multipart body cut short in the headers of part {}",
                            self.parts
                        )));
                    }
                }
                Err(e) => {
                    return Err(Rejection::bad_request(format!("multipart part {} headers: {e}", self.parts)));
                }
            }
        }
    }

    /// Discards the preamble up to and including the first delimiter.
    fn skip_to_delimiter(&mut self) -> io::Result<()> {
        loop {
            if let Some(i) = memmem::find(&self.buf[self.pos..], &self.delimiter) {
                self.pos += i + self.delimiter.len();
                self.state = State::Boundary;
                return Ok(());
            }
            let keep = self.delimiter.len() - 1;
            self.pos = self.pos.max(self.buf.len().saturating_sub(keep));
            if !self.fill()? {
                return Err(error(StatusCode::BAD_REQUEST, "multipart body has no boundary line"));
            }
        }
    }

    /// Makes at least `n` unconsumed bytes available; a body ending first
    /// is a truncated upload.
    fn need(&mut self, n: usize) -> io::Result<()> {
        while self.buf.len() - self.pos < n {
            if !self.fill()? {
                return Err(error(StatusCode::BAD_REQUEST, "multipart body cut short after a boundary line"));
            }
        }
        Ok(())
    }

    /// Reads more of the body into the buffer; `false` at its end.
    fn fill(&mut self) -> io::Result<bool> {
        if self.eof {
            return Ok(false);
        }
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        let len = self.buf.len();
        self.buf.resize(len + self.chunk, 0);
        let n = match self.body.read(&mut self.buf[len..]) {
            Ok(n) => n,
            Err(e) => {
                self.buf.truncate(len);
                return Err(e);
            }
        };
        self.buf.truncate(len + n);
        self.total += n as u64;
        if self.total > self.max_total_bytes {
            return Err(error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("multipart body larger than the {}-byte limit", self.max_total_bytes),
            ));
        }
        if n == 0 {
            self.eof = true;
        }
        Ok(n > 0)
    }

    /// Reads the current part's content into `out`; 0 at its end (the
    /// delimiter consumed). `name` is for error messages.
    fn read_body(&mut self, out: &mut [u8], name: &str) -> io::Result<usize> {
        let State::Body(read) = self.state else { return Ok(0) };
        if out.is_empty() {
            return Ok(0);
        }
        loop {
            let avail = &self.buf[self.pos..];
            let (n, ends) = match memmem::find(avail, &self.delimiter) {
                Some(i) => (i, true),
                // The tail may be the start of a delimiter: held back.
                None => (avail.len().saturating_sub(self.delimiter.len() - 1), false),
            };
            if n > 0 {
                let n = n.min(out.len());
                if read + n as u64 > self.max_part_bytes {
                    return Err(error(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        format!("multipart part `{name}` larger than the {}-byte limit", self.max_part_bytes),
                    ));
                }
                out[..n].copy_from_slice(&avail[..n]);
                self.pos += n;
                self.state = State::Body(read + n as u64);
                return Ok(n);
            }
            if ends {
                self.pos += self.delimiter.len();
                self.state = State::Boundary;
                return Ok(0);
            }
            if !self.fill()? {
                return Err(error(
                    StatusCode::BAD_REQUEST,
                    format!("multipart body cut short inside part `{name}` (no closing boundary)"),
                ));
            }
        }
    }
}

/// One part of a [`Multipart`] body: its name, file name and headers, and
/// its content through `Read` (parking while it is in flight).
///
/// A read past [`max_part_bytes`](Multipart::max_part_bytes) or a body that
/// ends inside the part fails with an `io::Error` that converts (`?`) to
/// the matching [`Rejection`] (413, 400).
pub struct Part<'a> {
    form: &'a mut Multipart,
    name: String,
    filename: Option<String>,
    headers: HeaderMap,
}

impl fmt::Debug for Part<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Part").field("name", &self.name).field("filename", &self.filename).finish_non_exhaustive()
    }
}

impl Part<'_> {
    /// The form field's name (`name=` of `Content-Disposition`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The uploaded file's name as the client gave it, for file fields.
    /// Untrusted: never use it as a path as it is.
    pub fn filename(&self) -> Option<&str> {
        self.filename.as_deref()
    }

    /// The part's `Content-Type`, when it has one.
    pub fn content_type(&self) -> Option<&str> {
        self.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok())
    }

    /// All the part's headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The rest of the part's content in memory (up to the part limit).
    pub fn content(&mut self) -> Result<Vec<u8>, Rejection> {
        let mut out = Vec::new();
        self.read_to_end(&mut out).map_err(rejection)?;
        Ok(out)
    }

    /// The rest of the part's content as UTF-8 text (400 when it is not).
    pub fn text(&mut self) -> Result<String, Rejection> {
        let bytes = self.content()?;
        String::from_utf8(bytes)
            .map_err(|_| Rejection::bad_request(format!("multipart part `{}` is not UTF-8 text", self.name)))
    }
}

impl Read for Part<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        self.form.read_body(out, &self.name)
    }
}

#[cfg(test)]
mod tests;
