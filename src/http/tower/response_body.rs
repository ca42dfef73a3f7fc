//! Response bodies across the boundary: greenloop's [`ResponseBody`] as an
//! `http_body::Body` (for tower layers around an App), and any
//! `http_body::Body` as a [`ResponseBody`] (for what a tower service answers).

use std::future::poll_fn;
use std::io::{self, Read, Write};
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use http_body::{Frame, SizeHint};

use super::BoxError;
use super::pipe::{Consumer, Producer, pipe};
use crate::http::ResponseBody;
use crate::http::response::Kind;

/// A greenloop [`ResponseBody`] as tower layers see it (an
/// [`http_body::Body`] of [`Bytes`]): what an [`App`](crate::http::App)
/// wrapped in tower layers answers them with.
///
/// Bytes known up front are handed over as one frame. A streamed body
/// (`ResponseBody::stream`, `from_reader`) is written by a green thread into
/// a one-chunk pipe as the layer above polls for it, so a layer such as
/// compression never waits inside its poll.
pub struct GreenResponseBody {
    inner: Inner,
}

enum Inner {
    Full(Option<Bytes>),
    Stream { consumer: Consumer, length: Option<u64> },
}

impl std::fmt::Debug for GreenResponseBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GreenResponseBody").field("size_hint", &self.size_hint_exact()).finish_non_exhaustive()
    }
}

impl GreenResponseBody {
    /// Converts `body`; a streamed one starts its writer on a new green
    /// thread of this loop, which writes only as the consumer asks.
    pub fn new(body: ResponseBody) -> GreenResponseBody {
        let length = body.len();
        let kind = body.into_kind();
        let inner = match kind {
            Kind::Empty => Inner::Full(None),
            Kind::Bytes(b) => Inner::Full(Some(Bytes::from(b.into_owned()))),
            kind => {
                let (producer, consumer) = pipe();
                crate::spawn_detached(move || {
                    let mut w = PipeWriter { producer: Some(producer) };
                    match kind.write_to(&mut w) {
                        Ok(()) => {
                            if let Some(p) = w.producer.take() {
                                p.finish();
                            }
                        }
                        Err(e) => {
                            if let Some(p) = w.producer.take() {
                                p.send(Err(e));
                            }
                        }
                    }
                });
                Inner::Stream { consumer, length }
            }
        };
        GreenResponseBody { inner }
    }

    fn size_hint_exact(&self) -> Option<u64> {
        match &self.inner {
            Inner::Full(b) => Some(b.as_ref().map_or(0, |b| b.len() as u64)),
            Inner::Stream { length, .. } => *length,
        }
    }
}

/// An empty body: what tower-http layers answer with on their own (a CORS
/// preflight, a timeout's 408).
impl Default for GreenResponseBody {
    fn default() -> GreenResponseBody {
        GreenResponseBody { inner: Inner::Full(None) }
    }
}

/// The writer a streamed body's closure writes into: each write waits until
/// the consumer asks, then hands the bytes over.
struct PipeWriter {
    producer: Option<Producer>,
}

impl Write for PipeWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let Some(p) = &self.producer else { return Err(io::ErrorKind::BrokenPipe.into()) };
        if data.is_empty() {
            return Ok(0);
        }
        if !p.wait_demand() {
            return Err(io::Error::new(io::ErrorKind::BrokenPipe, "the response body was dropped by a tower layer"));
        }
        p.send(Ok(Bytes::copy_from_slice(data)));
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl http_body::Body for GreenResponseBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        match &mut self.get_mut().inner {
            Inner::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Inner::Stream { consumer, .. } => consumer.poll_next(cx).map(|c| c.map(|r| r.map(Frame::data))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.inner {
            Inner::Full(b) => b.is_none(),
            Inner::Stream { consumer, .. } => consumer.is_end(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            // Exact until taken: then nothing is left.
            Inner::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            Inner::Stream { length: Some(n), .. } => SizeHint::with_exact(*n),
            Inner::Stream { length: None, .. } => SizeHint::default(),
        }
    }
}

/// A tower service's response body as a greenloop [`ResponseBody`]: sent
/// with `Content-Length` when the body says its exact size, chunked
/// otherwise. A body of known size up to 64 KiB is collected at once (with
/// [`block_on`](crate::block_on), on the caller's green thread); a larger
/// or open-ended one is polled frame by frame as the connection writes, on
/// the connection's green thread. Trailers are dropped (HTTP/1.1 responses
/// here carry none).
pub fn into_response_body<B>(body: B) -> ResponseBody
where
    B: http_body::Body + 'static,
    B::Error: Into<BoxError>,
{
    let hint = body.size_hint();
    if hint.exact() == Some(0) && body.is_end_stream() {
        return ResponseBody::empty();
    }
    let mut reader = BodyReader { body: Box::pin(body), chunk: None, ended: false };
    match hint.exact() {
        // Small and of known size (most API answers): collected now, on the
        // request's green thread, so the server sees bytes, not a stream:
        // it can then decide before the head whether the connection stays
        // open when the request body was left unread.
        Some(n) if n <= COLLECT_UP_TO => {
            let mut bytes = Vec::with_capacity(n as usize);
            match reader.read_to_end(&mut bytes) {
                Ok(_) => ResponseBody::from(bytes),
                Err(e) => ResponseBody::from_reader(Failed(Some(e)), None),
            }
        }
        exact => ResponseBody::from_reader(reader, exact),
    }
}

/// Response bodies of a known size up to this are collected before the
/// head is written.
const COLLECT_UP_TO: u64 = 64 * 1024;

/// A body whose collection failed: the error comes out on the first read,
/// as the connection writes it, which closes the connection.
struct Failed(Option<io::Error>);

impl Read for Failed {
    fn read(&mut self, _out: &mut [u8]) -> io::Result<usize> {
        Err(self.0.take().unwrap_or_else(|| io::Error::other("response body failed")))
    }
}

/// Reads `body` through `block_on`, frame by frame as it is read: for a
/// green thread that reads it outside any poll.
pub(super) fn reader<B>(body: B) -> impl Read + 'static
where
    B: http_body::Body + 'static,
    B::Error: Into<BoxError>,
{
    BodyReader { body: Box::pin(body), chunk: None, ended: false }
}

/// Reads an `http_body::Body` through `block_on`.
struct BodyReader<B: http_body::Body> {
    body: Pin<Box<B>>,
    chunk: Option<B::Data>,
    ended: bool,
}

impl<B> Read for BodyReader<B>
where
    B: http_body::Body,
    B::Error: Into<BoxError>,
{
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        loop {
            if let Some(c) = &mut self.chunk {
                if c.has_remaining() {
                    let n = c.remaining().min(out.len());
                    c.copy_to_slice(&mut out[..n]);
                    return Ok(n);
                }
                self.chunk = None;
            }
            if self.ended || out.is_empty() {
                return Ok(0);
            }
            let body = &mut self.body;
            match crate::block_on(poll_fn(|cx| body.as_mut().poll_frame(cx))) {
                None => {
                    self.ended = true;
                    return Ok(0);
                }
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        self.chunk = Some(data);
                    }
                }
                Some(Err(e)) => {
                    self.ended = true;
                    return Err(io::Error::other(e.into()));
                }
            }
        }
    }
}
