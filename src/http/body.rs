//! The request body: a streaming `Read` that parks while data is in flight.

use std::cell::RefCell;
use std::fmt;
use std::io::{self, Read};
use std::rc::Rc;

use http::StatusCode;

use super::body_error::BodyError;
use super::conn::inbound::{Inbound, read_arrived, read_parking};

/// The body of a request: read it like any `std::io::Read`. Reading parks
/// the green thread while data is in flight, so a slow upload stalls only
/// its own request.
///
/// Whatever the handler leaves unread is drained (small bodies) or the
/// connection is closed (large ones) after the answer, before the next
/// request: an unread body is never mistaken for the next request.
///
/// Read the body before writing a large response: most clients send all of
/// it before they read anything, and a response written meanwhile stalls
/// both sides (see [`Handler`](super::Handler#read-the-request-body-before-you-answer)).
/// Streaming it back as it arrives (`ResponseBody::from(body)`) is opt-in.
pub struct Body {
    source: Source,
}

enum Source {
    Empty,
    /// Bytes already taken from `rest` (by middleware that peeked), then `rest`.
    Prefixed {
        prefix: Vec<u8>,
        pos: usize,
        rest: Box<Body>,
    },
    Bytes {
        data: Vec<u8>,
        pos: usize,
    },
    /// The rest of the body is still on the connection: how much is left
    /// is the connection's to say (`Inbound::body_left`), never a length
    /// remembered here, which reads (a middleware's peek) make stale.
    Conn {
        inbound: Rc<RefCell<Inbound>>,
        /// The request this body belongs to (see `Inbound::request_seq`).
        seq: u64,
    },
    /// Any reader (`Body::from_reader`): a body from elsewhere than the
    /// connection (an HTTP/2 stream's data, a tower layer's body); the
    /// reader parks as it needs. `left`: the declared length less what was read.
    Reader {
        reader: Box<dyn Read>,
        left: Option<u64>,
    },
}

impl Body {
    /// An empty body.
    pub fn empty() -> Body {
        Body { source: Source::Empty }
    }

    pub(crate) fn from_conn(inbound: Rc<RefCell<Inbound>>, seq: u64) -> Body {
        Body { source: Source::Conn { inbound, seq } }
    }

    /// A body read from `reader`, with `length` bytes if known: for a request
    /// whose body comes from elsewhere than the connection (an HTTP/2
    /// stream's data, a request built in a test, or one that went through
    /// tower layers, which hand the body on as their own type). Reads may
    /// park, like the connection's.
    pub fn from_reader(reader: impl Read + 'static, length: Option<u64>) -> Body {
        Body { source: Source::Reader { reader: Box::new(reader), left: length } }
    }

    /// Puts `prefix` back in front of this body: for middleware that read
    /// the start of a body (to log it, say) and pass the whole body on.
    pub fn prepend(self, prefix: Vec<u8>) -> Body {
        if prefix.is_empty() {
            return self;
        }
        Body { source: Source::Prefixed { prefix, pos: 0, rest: Box::new(self) } }
    }

    /// How many bytes are left to read, if known: the declared length
    /// (`Content-Length`) before anything is read, less what was read since
    /// (bytes put back with [`prepend`](Body::prepend) count again). `None`
    /// for a chunked body still arriving, and for a body that can no longer
    /// be read (its request was answered, or its framing broke).
    ///
    /// A response that streams this body back (`ResponseBody::from(body)`)
    /// is framed with this length, so it must be what reading will yield.
    pub fn content_length(&self) -> Option<u64> {
        match &self.source {
            Source::Empty => Some(0),
            Source::Prefixed { prefix, pos, rest } => rest.content_length().map(|n| n + (prefix.len() - pos) as u64),
            Source::Bytes { data, pos } => Some((data.len() - pos) as u64),
            Source::Conn { inbound, seq } => inbound.try_borrow().ok().and_then(|inb| inb.body_left(*seq)),
            Source::Reader { left, .. } => *left,
        }
    }

    /// Reads what has already arrived of the body into `out`, without
    /// waiting: `WouldBlock` when more must come first, `Ok(0)` at its end.
    /// For middleware that looks at the start of a body (to log it) and must
    /// not hold the request up waiting for bytes the handler may never read.
    pub(crate) fn read_arrived(&mut self, out: &mut [u8]) -> io::Result<usize> {
        match &mut self.source {
            Source::Prefixed { prefix, pos, rest } if *pos >= prefix.len() => rest.read_arrived(out),
            Source::Conn { inbound, seq } => read_arrived(inbound, *seq, out),
            // A reader parks: what has arrived is not known here.
            Source::Reader { .. } => Err(io::ErrorKind::WouldBlock.into()),
            _ => self.read(out),
        }
    }

    /// Reads the whole body, failing with `InvalidData` (and a message
    /// naming the limit) if it is longer than `limit` bytes.
    pub fn read_to_vec(&mut self, limit: usize) -> io::Result<Vec<u8>> {
        if let Some(n) = self.content_length()
            && n > limit as u64
        {
            return Err(too_large(limit));
        }
        let mut out = Vec::with_capacity(self.content_length().unwrap_or(0).min(limit as u64) as usize);
        let mut chunk = [0u8; 8192];
        loop {
            let n = self.read(&mut chunk)?;
            if n == 0 {
                return Ok(out);
            }
            if out.len() + n > limit {
                return Err(too_large(limit));
            }
            out.extend_from_slice(&chunk[..n]);
        }
    }

    /// Reads the whole body as UTF-8 text, with a size limit.
    pub fn read_to_string_limited(&mut self, limit: usize) -> io::Result<String> {
        String::from_utf8(self.read_to_vec(limit)?)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "request body is not valid UTF-8"))
    }
}

fn too_large(limit: usize) -> io::Error {
    BodyError::io(StatusCode::PAYLOAD_TOO_LARGE, format!("request body larger than the {limit}-byte limit").into())
}

impl Read for Body {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        match &mut self.source {
            Source::Empty => Ok(0),
            Source::Prefixed { prefix, pos, rest } => {
                if *pos < prefix.len() {
                    let n = (prefix.len() - *pos).min(out.len());
                    out[..n].copy_from_slice(&prefix[*pos..*pos + n]);
                    *pos += n;
                    Ok(n)
                } else {
                    rest.read(out)
                }
            }
            Source::Bytes { data, pos } => {
                let n = (data.len() - *pos).min(out.len());
                out[..n].copy_from_slice(&data[*pos..*pos + n]);
                *pos += n;
                Ok(n)
            }
            Source::Conn { inbound, seq, .. } => read_parking(inbound, *seq, out),
            Source::Reader { reader, left } => {
                let n = reader.read(out)?;
                *left = left.map(|l| l.saturating_sub(n as u64));
                Ok(n)
            }
        }
    }
}

impl Default for Body {
    fn default() -> Self {
        Body::empty()
    }
}

impl From<Vec<u8>> for Body {
    fn from(data: Vec<u8>) -> Body {
        Body { source: Source::Bytes { data, pos: 0 } }
    }
}

impl From<&str> for Body {
    fn from(s: &str) -> Body {
        Body::from(s.as_bytes().to_vec())
    }
}

impl From<String> for Body {
    fn from(s: String) -> Body {
        Body::from(s.into_bytes())
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Body").field("content_length", &self.content_length()).finish()
    }
}
