//! The response side: [`ClientResponse`] and its streaming body.

use std::fmt;
use std::io::{self, Read};
use std::rc::Rc;
use std::time::{Duration, Instant};

use http::{HeaderMap, StatusCode, Version};

use super::pool::{Conn, DIRECT_READ, Pool, PoolKey};
use crate::http::codec::{BodyDecoder, BodyFraming};

/// A response from [`RequestBuilder::send`](super::RequestBuilder::send):
/// status and headers, and a body that streams through [`Read`].
///
/// Reading parks the green thread while body bytes are in flight. The
/// connection goes back to the client's pool when the body has been read to
/// its end (and the server allowed keep-alive); dropping a response before
/// that closes the connection.
///
/// ```no_run
/// use std::io::Read;
///
/// greenloop::run(|| {
///     let client = greenloop::http::Client::new();
///     let mut res = client.get("http://127.0.0.1:8000/big").send()?;
///     println!("{} {:?}", res.status(), res.headers().get("content-type"));
///     let mut chunk = [0u8; 16 * 1024];
///     loop {
///         let n = res.read(&mut chunk)?;
///         if n == 0 {
///             break;
///         }
///         // ... use &chunk[..n]
///     }
///     Ok::<_, std::io::Error>(())
/// })
/// .unwrap();
/// ```
pub struct ClientResponse {
    status: StatusCode,
    version: Version,
    headers: HeaderMap,
    body: BodyReader,
}

/// Where the body stands.
enum BodyState {
    /// Complete (or there was none): reads return 0.
    Done,
    /// An earlier read failed; the body is incomplete and stays so.
    Failed(io::ErrorKind),
    /// Being read: the codec's decoder (the one the server's request bodies use).
    Reading(BodyDecoder),
}

/// What reading the body needs: the connection, the framing state, and
/// where the connection goes afterwards.
pub(super) struct BodyReader {
    conn: Option<Conn>,
    state: BodyState,
    /// The connection may carry another request after this body.
    reusable: bool,
    pool: Rc<Pool>,
    key: PoolKey,
    deadline: Instant,
    timeout: Duration,
    /// "GET http://host/path", for error messages.
    what: Rc<str>,
}

/// Everything [`ClientResponse::new`] needs besides the head.
pub(super) struct BodyParts {
    pub(super) conn: Conn,
    /// How the response body is delimited, as its head says.
    pub(super) framing: BodyFraming,
    /// Most bytes a chunked body may have (`max_response_body`).
    pub(super) max_chunked: u64,
    pub(super) reusable: bool,
    pub(super) pool: Rc<Pool>,
    pub(super) key: PoolKey,
    pub(super) deadline: Instant,
    pub(super) timeout: Duration,
    pub(super) what: Rc<str>,
}

impl ClientResponse {
    pub(super) fn new(parts: http::response::Parts, body: BodyParts) -> ClientResponse {
        let decoder = BodyDecoder::new(body.framing, body.max_chunked);
        let done = decoder.is_done();
        let state = if done { BodyState::Done } else { BodyState::Reading(decoder) };
        let mut reader = BodyReader {
            conn: Some(body.conn),
            state,
            reusable: body.reusable,
            pool: body.pool,
            key: body.key,
            deadline: body.deadline,
            timeout: body.timeout,
            what: body.what,
        };
        if done {
            reader.finish();
        }
        ClientResponse { status: parts.status, version: parts.version, headers: parts.headers, body: reader }
    }

    /// The status code. A `3xx` is returned as is: redirects are not followed.
    ///
    /// ```no_run
    /// # greenloop::run(|| {
    /// let res = greenloop::http::client::default_client().get("http://127.0.0.1:8000/").send().unwrap();
    /// assert!(res.status().is_success());
    /// # });
    /// ```
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The HTTP version the server answered with (1.0 or 1.1).
    ///
    /// ```no_run
    /// # greenloop::run(|| {
    /// let res = greenloop::http::Client::new().get("http://127.0.0.1:8000/").send().unwrap();
    /// assert_eq!(res.version(), greenloop::http::Version::HTTP_11);
    /// # });
    /// ```
    pub fn version(&self) -> Version {
        self.version
    }

    /// The response header fields.
    ///
    /// ```no_run
    /// # greenloop::run(|| {
    /// let res = greenloop::http::Client::new().get("http://127.0.0.1:8000/").send().unwrap();
    /// let kind = res.headers().get("content-type").and_then(|v| v.to_str().ok());
    /// # let _ = kind;
    /// # });
    /// ```
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The body bytes still to come, when the server declared them with
    /// `Content-Length` (`Some(0)` for a response without a body); `None` for
    /// a chunked or close-delimited body.
    ///
    /// ```no_run
    /// # greenloop::run(|| {
    /// let res = greenloop::http::Client::new().head("http://127.0.0.1:8000/").send().unwrap();
    /// assert_eq!(res.content_length(), Some(0)); // HEAD: no body follows
    /// # });
    /// ```
    pub fn content_length(&self) -> Option<u64> {
        match &self.body.state {
            BodyState::Done => Some(0),
            BodyState::Reading(decoder) => decoder.remaining(),
            BodyState::Failed(_) => None,
        }
    }

    /// Reads the whole body, failing with `InvalidData` if it is longer than
    /// `limit` bytes (without reading more than `limit + 1` bytes of it).
    ///
    /// ```no_run
    /// # greenloop::run(|| {
    /// let res = greenloop::http::Client::new().get("http://127.0.0.1:8000/").send().unwrap();
    /// let body: Vec<u8> = res.bytes(1 << 20).unwrap();
    /// # let _ = body;
    /// # });
    /// ```
    pub fn bytes(mut self, limit: usize) -> io::Result<Vec<u8>> {
        if let Some(n) = self.content_length()
            && n > limit as u64
        {
            return Err(self.too_large(limit, Some(n)));
        }
        let hint = self.content_length().unwrap_or(0).min(limit as u64) as usize;
        let mut out = Vec::with_capacity(hint);
        (&mut self).take(limit as u64 + 1).read_to_end(&mut out)?;
        if out.len() > limit {
            return Err(self.too_large(limit, None));
        }
        Ok(out)
    }

    /// Reads the whole body as UTF-8 text (at most `limit` bytes).
    ///
    /// ```no_run
    /// # greenloop::run(|| {
    /// let text = greenloop::http::Client::new().get("http://127.0.0.1:8000/").send().unwrap().text(64 * 1024).unwrap();
    /// println!("{text}");
    /// # });
    /// ```
    pub fn text(self, limit: usize) -> io::Result<String> {
        let what = self.body.what.clone();
        String::from_utf8(self.bytes(limit)?).map_err(|e| {
            io::Error::new(io::ErrorKind::InvalidData, format!("response body is not valid UTF-8 ({e}) ({what})"))
        })
    }

    /// Reads the whole body (at most `limit` bytes) and parses it as JSON
    /// (needs the `json` feature, on by default).
    ///
    /// ```no_run
    /// # greenloop::run(|| {
    /// let v = greenloop::http::Client::new().get("http://127.0.0.1:8000/json").send().unwrap().json(1 << 20).unwrap();
    /// println!("{}", v["message"]);
    /// # });
    /// ```
    #[cfg(feature = "json")]
    pub fn json(self, limit: usize) -> io::Result<serde_json::Value> {
        let what = self.body.what.clone();
        let bytes = self.bytes(limit)?;
        serde_json::from_slice(&bytes).map_err(|e| {
            io::Error::new(io::ErrorKind::InvalidData, format!("response body is not valid JSON: {e} ({what})"))
        })
    }

    fn too_large(&self, limit: usize, declared: Option<u64>) -> io::Error {
        let what = &self.body.what;
        let msg = match declared {
            Some(n) => format!("response body too large: {n} bytes declared, the limit is {limit} ({what})"),
            None => format!("response body too large: more than the {limit}-byte limit ({what})"),
        };
        io::Error::new(io::ErrorKind::InvalidData, msg)
    }
}

impl Read for ClientResponse {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        self.body.read(out)
    }
}

impl fmt::Debug for ClientResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientResponse")
            .field("status", &self.status)
            .field("version", &self.version)
            .field("headers", &self.headers)
            .finish_non_exhaustive()
    }
}

impl BodyReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        match &self.state {
            BodyState::Done => return Ok(0),
            BodyState::Failed(kind) => {
                return Err(io::Error::new(
                    *kind,
                    format!("response body incomplete: an earlier read failed ({})", self.what),
                ));
            }
            _ => {}
        }
        match self.read_inner(out) {
            Ok(n) => Ok(n),
            Err(e) => {
                let e = self.context(e);
                self.state = BodyState::Failed(e.kind());
                self.conn = None;
                Err(e)
            }
        }
    }

    fn read_inner(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let deadline = self.deadline;
        let Some(conn) = self.conn.as_mut() else { return Ok(0) };
        let BodyState::Reading(decoder) = &mut self.state else { return Ok(0) };
        loop {
            if !conn.buffered().is_empty() {
                let (used, written) = decoder.decode(conn.buffered(), out).map_err(|e| {
                    let msg = if e.status == StatusCode::PAYLOAD_TOO_LARGE {
                        "response body too large: its chunks exceed max_response_body".to_owned()
                    } else {
                        format!("malformed response: {}", e.reason)
                    };
                    io::Error::new(io::ErrorKind::InvalidData, msg)
                })?;
                conn.consume(used);
                if decoder.is_done() {
                    self.finish();
                    return Ok(written);
                }
                if written > 0 {
                    return Ok(written);
                }
                // Only chunk framing was buffered: more must arrive.
            }
            // Large reads of a body without framing bytes skip the buffer.
            let want = decoder.direct_limit(out.len());
            let n = if want >= DIRECT_READ {
                let n = conn.read_direct(&mut out[..want], deadline)?;
                decoder.advance(n);
                n
            } else {
                conn.fill(deadline)?
            };
            if n == 0 {
                if decoder.end_at_close() {
                    // A body that runs until close ends here; the connection with it.
                    self.state = BodyState::Done;
                    self.conn = None;
                    return Ok(0);
                }
                let msg = match decoder.remaining() {
                    Some(left) => format!("connection closed with {left} bytes of the response body still to come"),
                    None => "connection closed in the middle of a chunked response body".to_owned(),
                };
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, msg));
            }
            if want >= DIRECT_READ {
                if decoder.is_done() {
                    self.finish();
                }
                return Ok(n);
            }
        }
    }

    /// The body is complete: the connection goes back to the pool if it may
    /// carry another request and nothing unexpected is buffered after the
    /// body; otherwise it closes.
    fn finish(&mut self) {
        self.state = BodyState::Done;
        if let Some(conn) = self.conn.take()
            && self.reusable
            && conn.buffered().is_empty()
        {
            self.pool.put(self.key.clone(), conn);
        }
    }

    fn context(&self, e: io::Error) -> io::Error {
        let what = &self.what;
        if e.kind() == io::ErrorKind::TimedOut {
            io::Error::new(
                io::ErrorKind::TimedOut,
                format!("request timed out after {:?} while reading the response body ({what})", self.timeout),
            )
        } else {
            io::Error::new(e.kind(), format!("{e} ({what})"))
        }
    }
}
