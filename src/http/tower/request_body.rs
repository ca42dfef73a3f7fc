//! greenloop's request [`Body`] as an `http_body::Body`, for tower services.

use std::io::{self, Read};
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};

use super::pipe::{Consumer, pipe};
use crate::http::Body;

/// Bytes read from the connection per chunk handed to the service.
const CHUNK: usize = 16 * 1024;

/// A request body as tower services read it: an [`http_body::Body`] of
/// [`Bytes`] chunks, `Send` as axum requires.
///
/// Why a green thread behind it: a future must not park from inside `poll`,
/// and reading greenloop's [`Body`] parks. So a body that is not known to be
/// empty is read by a small green thread (on the same loop) that reads a
/// 16 KiB slice each time the service asks for one, and hands it over; the
/// service's poll never waits. Nothing is read that the service does not
/// ask for, and the green thread ends when this body is dropped.
pub struct TowerBody {
    inner: Option<Consumer>,
    /// Bytes left, when known.
    left: Option<u64>,
}

impl std::fmt::Debug for TowerBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TowerBody").field("left", &self.left).finish_non_exhaustive()
    }
}

impl TowerBody {
    /// Wraps a greenloop body. Call it on a green thread of the loop that
    /// serves the request (where handlers run).
    pub fn new(mut body: Body) -> TowerBody {
        let left = body.content_length();
        if left == Some(0) {
            return TowerBody { inner: None, left };
        }
        let (producer, consumer) = pipe();
        greenloop_spawn(move || {
            let mut buf = vec![0u8; CHUNK];
            while producer.wait_demand() {
                match body.read(&mut buf) {
                    Ok(0) => {
                        producer.finish();
                        return;
                    }
                    Ok(n) => producer.send(Ok(Bytes::copy_from_slice(&buf[..n]))),
                    Err(e) => {
                        producer.send(Err(e));
                        return;
                    }
                }
            }
        });
        TowerBody { inner: Some(consumer), left }
    }

    /// An empty body.
    pub fn empty() -> TowerBody {
        TowerBody { inner: None, left: Some(0) }
    }
}

fn greenloop_spawn(f: impl FnOnce() + 'static) {
    crate::spawn_detached(f);
}

impl http_body::Body for TowerBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = self.get_mut();
        let Some(c) = &this.inner else { return Poll::Ready(None) };
        match c.poll_next(cx) {
            Poll::Ready(Some(Ok(b))) => {
                if let Some(left) = &mut this.left {
                    *left = left.saturating_sub(b.len() as u64);
                }
                Poll::Ready(Some(Ok(Frame::data(b))))
            }
            Poll::Ready(Some(Err(e))) => {
                this.inner = None;
                Poll::Ready(Some(Err(e)))
            }
            Poll::Ready(None) => {
                this.inner = None;
                this.left = Some(0);
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.as_ref().is_none_or(Consumer::is_end)
    }

    fn size_hint(&self) -> SizeHint {
        match self.left {
            Some(n) => SizeHint::with_exact(n),
            None => SizeHint::default(),
        }
    }
}
