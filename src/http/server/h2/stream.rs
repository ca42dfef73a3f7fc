//! One HTTP/2 stream on its own green thread: the request as handlers know
//! it, the app (middleware, access log and all) under a cancellation scope
//! the peer's reset cancels, then the response.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Instant;

use bytes::Bytes;
use h2::server::SendResponse;
use h2::{Reason, RecvStream};
use http::header::{CONTENT_LENGTH, HOST};
use http::{HeaderValue, Method, StatusCode, Uri};

use super::body::RecvBody;
use super::connection::Shared;
use crate::cancel::Cancel;
use crate::http::request_ext::ConnInfo;
use crate::http::response::IntoResponse;
use crate::http::server::context::panic_text;
use crate::http::{Body, Request};

/// Counts a stream green thread while it lives (or while its closure
/// waits to run: dropped unrun, it still counts down).
struct Active(Rc<Shared>);

impl Drop for Active {
    fn drop(&mut self) {
        let n = self.0.active.get() - 1;
        self.0.active.set(n);
        if n == 0 {
            self.0.idle_since.set(Instant::now());
        }
    }
}

/// Starts a green thread for the stream `req` opened; past the
/// connection's bound on stream green threads, refuses it instead.
pub(super) fn start(shared: &Rc<Shared>, req: http::Request<RecvStream>, mut respond: SendResponse<Bytes>) {
    if shared.active.get() >= shared.max_active {
        respond.send_reset(Reason::REFUSED_STREAM);
        return;
    }
    shared.active.set(shared.active.get() + 1);
    let active = Active(shared.clone());
    crate::spawn_detached(move || run(active, req, respond));
}

fn run(active: Active, req: http::Request<RecvStream>, respond: SendResponse<Bytes>) {
    let shared = &active.0;
    let ctx = &shared.ctx;
    let started = Instant::now();
    let request_id = ctx.next_request_id.get();
    ctx.next_request_id.set(request_id + 1);
    crate::http::request_ext::set_connection_info(Rc::new(Cell::new(ConnInfo {
        peer: shared.peer,
        worker: ctx.id,
        request_id,
    })));
    let label = crate::watchdog::Label::new();
    label.attach();
    let is_head = req.method() == Method::HEAD;
    let mut slot = Some(request(req, ctx.config.limits.max_body_bytes, ctx.config.limits.body_timeout));
    if let Some(req) = &slot {
        let method = req.method().as_str();
        let target = req.uri().path_and_query().map_or("/", |p| p.as_str());
        label.set_with_request(request_id, |t| {
            t.push_str(method);
            t.push(' ');
            t.push_str(target);
        });
    }
    let respond = Rc::new(RefCell::new(respond));
    let cancel = Cancel::new();
    let watched = shared.watch(&respond, &cancel);
    let metrics = &ctx.metrics;
    metrics.in_flight.add(1);
    let outcome = cancel.run_catching(|| shared.app.call_in_place(&mut slot));
    metrics.in_flight.sub(1);
    shared.unwatch(watched);
    drop(slot);
    let response = match outcome {
        Ok(r) => r,
        Err(p) if p.is::<crate::cancel::Cancelled>() => {
            log::debug!(
                "greenloop: request {request_id}: the client reset its HTTP/2 stream; its handler was cancelled"
            );
            metrics.observe(
                StatusCode::from_u16(499).unwrap_or(StatusCode::BAD_REQUEST),
                started.elapsed().as_nanos() as u64,
            );
            respond.borrow_mut().send_reset(Reason::CANCEL);
            return;
        }
        Err(p) => {
            log::error!("greenloop: handler panicked (request {request_id}): {}", panic_text(&*p));
            (StatusCode::INTERNAL_SERVER_ERROR, "internal server error\n").into_response()
        }
    };
    metrics.observe(response.status(), started.elapsed().as_nanos() as u64);
    if let Err(e) = super::respond::send(&respond, response, is_head, ctx) {
        log::debug!("greenloop: request {request_id}: HTTP/2 response not sent in full: {e}");
    }
}

/// The request as an HTTP/1.1 request would reach the handler: the target
/// in origin form (`/path?query`), the authority as a `Host` header, and a
/// body read through the stream's flow control.
fn request(req: http::Request<RecvStream>, max_body: u64, body_timeout: std::time::Duration) -> Request {
    let (mut parts, recv) = req.into_parts();
    if let Some(authority) = parts.uri.authority()
        && !parts.headers.contains_key(HOST)
        && let Ok(v) = HeaderValue::from_str(authority.as_str())
    {
        parts.headers.insert(HOST, v);
    }
    if parts.method != Method::CONNECT
        && let Some(pq) = parts.uri.path_and_query()
    {
        parts.uri = Uri::from(pq.clone());
    }
    let length = parts.headers.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    let body = if recv.is_end_stream() {
        Body::empty()
    } else {
        Body::from_reader(RecvBody::new(recv, max_body, body_timeout), length)
    };
    Request::from_parts(parts, body)
}
