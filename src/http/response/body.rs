//! [`ResponseBody`]: what a response carries, bytes known up front or a stream.

use std::borrow::Cow;
use std::fmt;
use std::io::{self, Read, Write};

use crate::http::body::Body;

/// The body of a response: bytes known up front, or a stream.
///
/// Streams are written as they are produced, chunked on HTTP/1.1 (or
/// close-delimited to HTTP/1.0 clients); a slow client parks the writer, so
/// nothing is buffered without bound.
pub struct ResponseBody {
    kind: Kind,
}

/// A body written piece by piece by the handler's closure.
pub(crate) type StreamFn = Box<dyn FnOnce(&mut dyn Write) -> io::Result<()>>;

pub(crate) enum Kind {
    Empty,
    Bytes(Cow<'static, [u8]>),
    Reader {
        reader: Box<dyn Read>,
        length: Option<u64>,
    },
    Writer(StreamFn),
    /// `len` bytes of an open file from `start`: sent with `sendfile(2)`.
    File {
        file: std::fs::File,
        start: u64,
        len: u64,
    },
}

impl Kind {
    /// Writes the whole body into `w` (a streamed body's closure runs here).
    pub(crate) fn write_to(self, w: &mut dyn Write) -> io::Result<()> {
        match self {
            Kind::Empty => Ok(()),
            Kind::Bytes(b) => w.write_all(&b),
            Kind::Reader { mut reader, .. } => {
                let mut buf = vec![0u8; 16 * 1024];
                loop {
                    let n = reader.read(&mut buf)?;
                    if n == 0 {
                        return Ok(());
                    }
                    w.write_all(&buf[..n])?;
                }
            }
            Kind::Writer(f) => f(w),
            Kind::File { file, start, len } => copy_file_range(&file, start, len, w),
        }
    }
}

/// Writes `len` bytes of `file` from `start` into `w` (where `sendfile`
/// cannot be used: a body that middleware transforms, say).
fn copy_file_range(file: &std::fs::File, mut at: u64, len: u64, w: &mut dyn Write) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; (len as usize).clamp(1, 16 * 1024)];
    let end = at + len;
    while at < end {
        let want = (buf.len() as u64).min(end - at) as usize;
        let n = file.read_at(&mut buf[..want], at)?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "file ended before the range it was to send"));
        }
        w.write_all(&buf[..n])?;
        at += n as u64;
    }
    Ok(())
}

impl ResponseBody {
    /// No body.
    pub fn empty() -> ResponseBody {
        ResponseBody { kind: Kind::Empty }
    }

    /// A body streamed from `reader`. With `length`, it is sent with
    /// `Content-Length` (and the reader must yield exactly that many bytes);
    /// without, chunked.
    pub fn from_reader(reader: impl Read + 'static, length: Option<u64>) -> ResponseBody {
        ResponseBody { kind: Kind::Reader { reader: Box::new(reader), length } }
    }

    /// A body the handler writes piece by piece, after the head is sent:
    /// `f` gets a writer whose writes park while the client is slow.
    ///
    /// ```
    /// use std::io::Write;
    /// let body = greenloop::http::ResponseBody::stream(|w| {
    ///     for i in 0..3 {
    ///         writeln!(w, "tick {i}")?;
    ///         greenloop::sleep(std::time::Duration::from_millis(10));
    ///     }
    ///     Ok(())
    /// });
    /// # drop(body);
    /// ```
    pub fn stream(f: impl FnOnce(&mut dyn Write) -> io::Result<()> + 'static) -> ResponseBody {
        ResponseBody { kind: Kind::Writer(Box::new(f)) }
    }

    /// `range` of an open file, sent with `Content-Length`. On a plain TCP
    /// or Unix connection the server sends it with `sendfile(2)`: the bytes
    /// go from the page cache to the socket without a copy through user
    /// memory, and a slow client parks the connection's green thread as
    /// any write does. Under TLS (and when middleware transforms the body)
    /// it is read and written in slices. The file must hold the range
    /// until it is sent: one that shrinks meanwhile closes the connection.
    ///
    /// [`ServeDir`](crate::http::ServeDir) builds these; a handler that opens a
    /// file itself can too:
    ///
    /// ```no_run
    /// let file = std::fs::File::open("/var/www/video.mp4")?;
    /// let len = file.metadata()?.len();
    /// let body = greenloop::http::ResponseBody::file(file, 0..len);
    /// # drop(body);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn file(file: std::fs::File, range: std::ops::Range<u64>) -> ResponseBody {
        let len = range.end.saturating_sub(range.start);
        ResponseBody { kind: Kind::File { file, start: range.start, len } }
    }

    /// The length, when known before sending.
    pub fn len(&self) -> Option<u64> {
        match &self.kind {
            Kind::Empty => Some(0),
            Kind::Bytes(b) => Some(b.len() as u64),
            Kind::Reader { length, .. } => *length,
            Kind::Writer(_) => None,
            Kind::File { len, .. } => Some(*len),
        }
    }

    /// Whether the body is known to be empty.
    pub fn is_empty(&self) -> bool {
        self.len() == Some(0)
    }

    /// The bytes of a body known up front (`None` for streams).
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match &self.kind {
            Kind::Empty => Some(&[]),
            Kind::Bytes(b) => Some(b),
            _ => None,
        }
    }

    pub(crate) fn into_kind(self) -> Kind {
        self.kind
    }
}

impl Default for ResponseBody {
    fn default() -> Self {
        ResponseBody::empty()
    }
}

impl fmt::Debug for ResponseBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Empty => f.write_str("ResponseBody::Empty"),
            Kind::Bytes(b) => write!(f, "ResponseBody::Bytes({} bytes)", b.len()),
            Kind::Reader { length, .. } => write!(f, "ResponseBody::Reader(length {length:?})"),
            Kind::Writer(_) => f.write_str("ResponseBody::Stream"),
            Kind::File { start, len, .. } => write!(f, "ResponseBody::File({len} bytes from {start})"),
        }
    }
}

impl From<()> for ResponseBody {
    fn from(_: ()) -> Self {
        ResponseBody::empty()
    }
}
impl From<&'static str> for ResponseBody {
    fn from(s: &'static str) -> Self {
        ResponseBody { kind: Kind::Bytes(Cow::Borrowed(s.as_bytes())) }
    }
}
impl From<&'static [u8]> for ResponseBody {
    fn from(s: &'static [u8]) -> Self {
        ResponseBody { kind: Kind::Bytes(Cow::Borrowed(s)) }
    }
}
impl From<String> for ResponseBody {
    fn from(s: String) -> Self {
        ResponseBody { kind: Kind::Bytes(Cow::Owned(s.into_bytes())) }
    }
}
impl From<Vec<u8>> for ResponseBody {
    fn from(v: Vec<u8>) -> Self {
        ResponseBody { kind: Kind::Bytes(Cow::Owned(v)) }
    }
}
impl From<Body> for ResponseBody {
    /// Streams a request body back as it arrives (a full-duplex echo): with
    /// the length left to read when known, else chunked. Opt-in: only for
    /// clients that read while they send; one that sends a large body before
    /// reading stalls (see [`Handler`](crate::http::Handler#read-the-request-body-before-you-answer)).
    fn from(b: Body) -> Self {
        let length = b.content_length();
        ResponseBody::from_reader(b, length)
    }
}
