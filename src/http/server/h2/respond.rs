//! A handler's `Response` as an HTTP/2 response: its head (without the
//! fields HTTP/2 forbids, with `Date` and `Server` as HTTP/1.1 answers
//! carry them), then its body through the stream's flow control.

use std::borrow::Cow;
use std::cell::RefCell;
use std::io;

use bytes::Bytes;
use h2::server::SendResponse;
use http::header::{CONNECTION, CONTENT_LENGTH, DATE, SERVER, TRANSFER_ENCODING, UPGRADE};
use http::{HeaderName, HeaderValue, StatusCode};

use super::body::SendBody;
use crate::http::Response;
use crate::http::response::Kind;
use crate::http::server::context::{WorkerCtx, panic_text};

/// Connection-specific fields, which HTTP/2 forbids (RFC 9113, 8.2.2).
const HOP_BY_HOP: [&str; 3] = ["keep-alive", "proxy-connection", "te"];

/// Sends `response` on the stream `respond` answers; a body that cannot be
/// written in full (the peer reset the stream, its window stayed shut, the
/// body's own code failed or panicked) ends the stream with a reset.
pub(super) fn send(
    respond: &RefCell<SendResponse<Bytes>>,
    response: Response,
    is_head: bool,
    ctx: &WorkerCtx,
) -> io::Result<()> {
    let (mut parts, body) = response.into_parts();
    if parts.status == StatusCode::SWITCHING_PROTOCOLS {
        // No upgrade on HTTP/2 (a WebSocket route refuses one without its
        // Upgrade header; a handler that answers 101 anyway gets a 500).
        drop(crate::http::upgrade::take_pending());
        parts.status = StatusCode::INTERNAL_SERVER_ERROR;
    }
    let kind = body.into_kind();
    for name in [CONNECTION, TRANSFER_ENCODING, UPGRADE] {
        parts.headers.remove(name);
    }
    for name in HOP_BY_HOP {
        parts.headers.remove(HeaderName::from_static(name));
    }
    let config = &ctx.config;
    if !parts.headers.contains_key(DATE) {
        let stamp = ctx.stamp_at(std::time::Instant::now());
        if let Ok(v) = HeaderValue::from_bytes(&stamp.date) {
            parts.headers.insert(DATE, v);
        }
    }
    if !config.server_name.is_empty()
        && !parts.headers.contains_key(SERVER)
        && let Ok(v) = HeaderValue::from_str(&config.server_name)
    {
        parts.headers.insert(SERVER, v);
    }
    let length = match &kind {
        Kind::Empty => Some(0),
        Kind::Bytes(b) => Some(b.len() as u64),
        Kind::Reader { length, .. } => *length,
        Kind::File { len, .. } => Some(*len),
        Kind::Writer(_) => None,
    };
    let bodiless = parts.status.is_informational()
        || parts.status == StatusCode::NO_CONTENT
        || parts.status == StatusCode::NOT_MODIFIED;
    if let Some(n) = length
        && !bodiless
        && !parts.headers.contains_key(CONTENT_LENGTH)
    {
        parts.headers.insert(CONTENT_LENGTH, HeaderValue::from(n));
    }
    let end = is_head || bodiless || length == Some(0);
    let head = http::Response::from_parts(parts, ());
    let send = respond.borrow_mut().send_response(head, end).map_err(|e| super::connection::h2_error(e, "response"))?;
    if end {
        return Ok(());
    }
    let mut body = SendBody::new(send, config.limits.write_timeout);
    let written = match kind {
        Kind::Bytes(b) => {
            let bytes = match b {
                Cow::Borrowed(s) => Bytes::from_static(s),
                Cow::Owned(v) => Bytes::from(v),
            };
            body.send_all(bytes, true)
        }
        // User code (a reader's `read`, a stream's closure) runs here: a
        // panic resets this stream only.
        kind => match crate::catch_unwind(|| kind.write_to(&mut body)) {
            Ok(r) => r.and_then(|()| body.finish()),
            Err(p) => {
                log::error!("greenloop: response body panicked: {}", panic_text(&*p));
                Err(io::Error::other("response body panicked"))
            }
        },
    };
    if written.is_err() {
        body.reset();
    }
    written
}
