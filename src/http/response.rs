//! Response bodies and the conversions handlers return.

use std::borrow::Cow;
use std::fmt;
use std::io::{self, Read, Write};

use http::{HeaderValue, StatusCode, header};

use super::body::Body;
use super::body_error::BodyError;

/// A response as handlers return it: the `http` crate's type with a [`ResponseBody`].
pub type Response = http::Response<ResponseBody>;

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
    /// [`ServeDir`](super::ServeDir) builds these; a handler that opens a
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
    /// reading stalls (see [`Handler`](super::Handler#read-the-request-body-before-you-answer)).
    fn from(b: Body) -> Self {
        let length = b.content_length();
        ResponseBody::from_reader(b, length)
    }
}

/// What a handler may return.
pub trait IntoResponse {
    /// Builds the response.
    fn into_response(self) -> Response;
}

/// A response with `body` and one field, `Content-Type: content_type`.
///
/// `content_type` is a constant: `HeaderValue::from_static` validates its
/// argument byte by byte when called at run time (about 300 instructions
/// for `TEXT`), but not when evaluated as a constant.
pub(crate) fn with_type(body: ResponseBody, content_type: HeaderValue) -> Response {
    let Some(mut parts) = pooled_parts() else {
        let mut r = Response::new(body);
        r.headers_mut().insert(header::CONTENT_TYPE, content_type);
        return r;
    };
    parts.status = StatusCode::OK;
    parts.version = http::Version::HTTP_11;
    let same = sole_content_type(&parts.headers).is_some_and(|v| same_value(v, &content_type));
    if !same {
        if !parts.headers.is_empty() {
            parts.headers.clear();
        }
        parts.headers.insert(header::CONTENT_TYPE, content_type);
    }
    Response::from_parts(parts, body)
}

/// Whether two header values are the same bytes (and equally sensitive).
#[inline]
fn same_value(a: &HeaderValue, b: &HeaderValue) -> bool {
    let (x, y) = (a.as_bytes(), b.as_bytes());
    // The same constant is most often the same static bytes: no compare then.
    let same_bytes = x.len() == y.len() && (std::ptr::eq(x.as_ptr(), y.as_ptr()) || x == y);
    same_bytes && a.is_sensitive() == b.is_sensitive()
}

// The heads (status, version, header map, extensions) of written responses,
// kept by each thread for the next responses it builds: a map that holds
// one field has already made two allocations, which this saves on every
// request, and a response built from a kept head is not built field by
// field. A map whose only field was `Content-Type` is kept with it: the
// next response of that type takes it as it is, neither cleared nor filled
// (the hash, probe and insertion of the field, about 200 instructions).
thread_local! {
    static PARTS_POOL: std::cell::RefCell<Vec<http::response::Parts>> = const { std::cell::RefCell::new(Vec::new()) };
}
/// Heads kept per thread: more than the responses a loop builds between two writes.
const POOL_KEEP: usize = 16;
/// Heads whose map grew beyond this many fields are let go, not kept.
const POOL_MAX_FIELDS: usize = 16;

/// A head from the pool, as it was recycled: no extensions, and a header
/// map that is empty or holds one `Content-Type`.
fn pooled_parts() -> Option<http::response::Parts> {
    PARTS_POOL.try_with(|p| p.borrow_mut().pop()).ok().flatten()
}

/// The value of `map`'s field when `Content-Type` is its only one (found by
/// iteration: `get` would hash the name; comparing a standard name is one
/// integer compare).
pub(crate) fn sole_content_type(map: &http::HeaderMap) -> Option<&HeaderValue> {
    if map.len() != 1 {
        return None;
    }
    let (name, value) = map.iter().next()?;
    (name == header::CONTENT_TYPE).then_some(value)
}

/// Keeps a written response's head for the next response: its extensions
/// are dropped now, its header map's room kept (with its field, when that
/// is a sole `Content-Type`: [`with_type`] clears it when the next response
/// has another).
pub(crate) fn recycle_parts(mut parts: http::response::Parts) {
    if parts.headers.capacity() == 0 || parts.headers.capacity() > POOL_MAX_FIELDS {
        return;
    }
    parts.extensions.clear();
    if sole_content_type(&parts.headers).is_none() {
        parts.headers.clear();
    }
    let _ = PARTS_POOL.try_with(|p| {
        let mut p = p.borrow_mut();
        if p.len() < POOL_KEEP {
            p.push(parts);
        }
    });
}

const TEXT: HeaderValue = HeaderValue::from_static("text/plain; charset=utf-8");
const BINARY: HeaderValue = HeaderValue::from_static("application/octet-stream");

impl IntoResponse for Response {
    fn into_response(self) -> Response {
        self
    }
}
impl IntoResponse for &'static str {
    fn into_response(self) -> Response {
        with_type(self.into(), TEXT)
    }
}
impl IntoResponse for String {
    fn into_response(self) -> Response {
        with_type(self.into(), TEXT)
    }
}
impl IntoResponse for Vec<u8> {
    fn into_response(self) -> Response {
        with_type(self.into(), BINARY)
    }
}
impl IntoResponse for () {
    fn into_response(self) -> Response {
        Response::new(ResponseBody::empty())
    }
}
impl IntoResponse for StatusCode {
    /// The status with its reason phrase as a text body (empty for 204/304).
    fn into_response(self) -> Response {
        let mut r = if self == StatusCode::NO_CONTENT || self == StatusCode::NOT_MODIFIED {
            Response::new(ResponseBody::empty())
        } else {
            with_type(self.canonical_reason().unwrap_or("").into(), TEXT)
        };
        *r.status_mut() = self;
        r
    }
}
impl<T: IntoResponse> IntoResponse for (StatusCode, T) {
    fn into_response(self) -> Response {
        let mut r = self.1.into_response();
        *r.status_mut() = self.0;
        r
    }
}
impl<T: IntoResponse, E: IntoResponse> IntoResponse for Result<T, E> {
    fn into_response(self) -> Response {
        match self {
            Ok(v) => v.into_response(),
            Err(e) => e.into_response(),
        }
    }
}
impl IntoResponse for io::Error {
    /// 500 with the error's message (413 for a body over its limit, 408 for a
    /// timed-out read, 400 for other malformed input).
    fn into_response(self) -> Response {
        // A request-body error knows its status (a chunked body growing over
        // the server's limit says "too large", not "limit": it is a 413 too).
        let known = self.get_ref().and_then(|e| e.downcast_ref::<BodyError>()).map(|e| e.status);
        let status = known.unwrap_or_else(|| match self.kind() {
            io::ErrorKind::InvalidData if self.to_string().contains("limit") => StatusCode::PAYLOAD_TOO_LARGE,
            io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof => StatusCode::BAD_REQUEST,
            io::ErrorKind::TimedOut => StatusCode::REQUEST_TIMEOUT,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        });
        (status, format!("{}: {self}\n", status.canonical_reason().unwrap_or("error"))).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_names(r: &Response) -> Vec<(String, String)> {
        r.headers().iter().map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_string())).collect()
    }

    #[test]
    fn a_recycled_head_starts_the_next_response_afresh() {
        // A response that changed everything a head holds, then recycled...
        let mut r = with_type("x".into(), TEXT);
        *r.status_mut() = StatusCode::IM_A_TEAPOT;
        *r.version_mut() = http::Version::HTTP_10;
        r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        r.extensions_mut().insert(7u32);
        let (parts, _) = r.into_parts();
        recycle_parts(parts);
        // ...gives the next one nothing of it.
        let r = with_type("y".into(), BINARY);
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(r.version(), http::Version::HTTP_11);
        assert!(r.extensions().is_empty());
        assert_eq!(field_names(&r), [("content-type".to_string(), "application/octet-stream".to_string())]);
    }

    #[test]
    fn a_kept_content_type_is_reused_only_for_the_same_type() {
        for (first, then) in [(TEXT, TEXT), (TEXT, BINARY), (BINARY, TEXT)] {
            let (parts, _) = with_type("a".into(), first).into_parts();
            recycle_parts(parts);
            let r = with_type("b".into(), then.clone());
            assert_eq!(field_names(&r), [("content-type".to_string(), then.to_str().unwrap().to_string())]);
        }
        // The same bytes, not the same constant.
        let (parts, _) = with_type("a".into(), TEXT).into_parts();
        recycle_parts(parts);
        let same = HeaderValue::from_str("text/plain; charset=utf-8").unwrap();
        let r = with_type("b".into(), same);
        assert_eq!(field_names(&r), [("content-type".to_string(), "text/plain; charset=utf-8".to_string())]);
        // A sensitive value is not taken for a plain one.
        let mut secret = HeaderValue::from_static("text/plain; charset=utf-8");
        secret.set_sensitive(true);
        let (parts, _) = with_type("a".into(), secret).into_parts();
        recycle_parts(parts);
        assert!(!with_type("b".into(), TEXT).headers()[header::CONTENT_TYPE].is_sensitive());
    }

    #[test]
    fn string_and_json_answers_say_their_type() {
        for _ in 0..3 {
            let r = "hi".into_response();
            assert_eq!(field_names(&r), [("content-type".to_string(), "text/plain; charset=utf-8".to_string())]);
            let (parts, _) = r.into_parts();
            recycle_parts(parts);
            let r = vec![1u8].into_response();
            assert_eq!(field_names(&r), [("content-type".to_string(), "application/octet-stream".to_string())]);
            let (parts, _) = r.into_parts();
            recycle_parts(parts);
        }
    }

    #[test]
    fn the_pool_keeps_a_bounded_number_of_heads() {
        for _ in 0..POOL_KEEP * 2 {
            let (parts, _) = with_type("a".into(), TEXT).into_parts();
            recycle_parts(parts);
        }
        let kept = PARTS_POOL.with(|p| p.borrow().len());
        assert!(kept <= POOL_KEEP, "{kept}");
    }
}
