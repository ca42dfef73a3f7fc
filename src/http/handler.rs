//! Handlers, middleware and the chain that joins them.

use std::sync::Arc;

use super::response::IntoResponse;
use super::{Request, Response};

/// Answers requests. Any `Fn(Request) -> impl IntoResponse` is a handler.
///
/// Handlers are shared by every worker thread, hence `Send + Sync`; per-request
/// data belongs in the request's extensions, never in the handler's fields.
///
/// # Read the request body before you answer
/// HTTP/1.1 is half duplex for most clients: Python's `http.client` and
/// `requests`, and many others, send the whole request body before they read
/// a byte of the response. A handler that starts writing a large response
/// while the body is still arriving (an echo that streams the body back)
/// fills the client's receive buffer, then its own send buffer, and both
/// sides wait for each other until a timeout cuts the exchange. So read the
/// body first ([`Body::read_to_vec`](super::Body::read_to_vec), with a
/// limit), then answer; Go's `net/http` documents the same rule. Full
/// duplex (returning the [`Body`](super::Body) as the response body with
/// `ResponseBody::from(body)`) is opt-in, for clients known to read while
/// they send. A body the handler leaves unread is skipped by the server
/// after the answer (or the connection is closed), never before it.
pub trait Handler: Send + Sync + 'static {
    /// Answers one request.
    fn call(&self, req: Request) -> Response;

    /// Answers the request in `slot`, taking it out where it is consumed.
    ///
    /// What the server calls. A handler that only looks at the request to
    /// pass it on (a [`Router`](super::Router), an [`App`] without
    /// middleware) overrides this to hand the slot down, so the request is
    /// not copied into every frame on the way to the handler that takes it:
    /// each copy would be stack that a parked connection keeps resident.
    /// The slot holds a request on entry; implementations that take it must
    /// not be called with an empty slot.
    #[doc(hidden)]
    fn call_in_place(&self, slot: &mut Option<Request>) -> Response {
        take_then(slot, |req| self.call(req))
    }
}

/// Takes the request out of `slot` and answers it with `f`; an empty slot
/// (a handler called twice on one request) is a 500, not a panic.
#[inline(always)]
fn take_then(slot: &mut Option<Request>, f: impl FnOnce(Request) -> Response) -> Response {
    match slot.take() {
        Some(req) => f(req),
        None => empty_slot(),
    }
}

#[cold]
#[inline(never)]
pub(crate) fn empty_slot() -> Response {
    use super::response::IntoResponse;
    (http::StatusCode::INTERNAL_SERVER_ERROR, "greenloop: request already taken\n").into_response()
}

impl<F, R> Handler for F
where
    F: Fn(Request) -> R + Send + Sync + 'static,
    R: IntoResponse,
{
    fn call(&self, req: Request) -> Response {
        self(req).into_response()
    }

    // Here rather than the default: one frame between the slot and the function.
    fn call_in_place(&self, slot: &mut Option<Request>) -> Response {
        take_then(slot, |req| self(req).into_response())
    }
}

/// Code around every request, in a declared order (like Django's
/// `MIDDLEWARE`). Any `Fn(Request, Next) -> Response` is middleware.
///
/// ```
/// use greenloop::http::{Next, Request, Response};
/// fn powered_by(req: Request, next: Next<'_>) -> Response {
///     let mut res = next.run(req);
///     res.headers_mut().insert("x-powered-by", "greenloop".parse().unwrap());
///     res
/// }
/// # let _ = greenloop::http::App::new(|_req: Request| "hi").wrap(powered_by);
/// ```
pub trait Middleware: Send + Sync + 'static {
    /// Handles `req`, calling `next.run(req)` to continue down the chain (or not).
    fn call(&self, req: Request, next: Next<'_>) -> Response;
}

impl<F> Middleware for F
where
    F: Fn(Request, Next<'_>) -> Response + Send + Sync + 'static,
{
    fn call(&self, req: Request, next: Next<'_>) -> Response {
        self(req, next)
    }
}

/// The rest of the chain after the current middleware.
pub struct Next<'a> {
    rest: &'a [Arc<dyn Middleware>],
    handler: &'a dyn Handler,
}

impl std::fmt::Debug for Next<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Next").field("middleware_left", &self.rest.len()).finish_non_exhaustive()
    }
}

impl Next<'_> {
    /// Runs the remaining middleware and the handler.
    pub fn run(self, req: Request) -> Response {
        match self.rest.split_first() {
            Some((first, rest)) => first.call(req, Next { rest, handler: self.handler }),
            None => self.handler.call(req),
        }
    }
}

/// A handler with its middleware chain: what a [`Server`](super::Server) serves.
#[derive(Clone)]
pub struct App {
    middleware: Vec<Arc<dyn Middleware>>,
    handler: Arc<dyn Handler>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App").field("middleware", &self.middleware.len()).finish_non_exhaustive()
    }
}

impl App {
    /// An app answering with `handler`, no middleware yet.
    pub fn new(handler: impl Handler) -> App {
        App { middleware: Vec::new(), handler: Arc::new(handler) }
    }

    /// Adds middleware. The first added is the outermost: it sees the request
    /// first and the response last.
    pub fn wrap(mut self, m: impl Middleware) -> App {
        self.middleware.push(Arc::new(m));
        self
    }

    /// Runs the chain on one request.
    pub fn call(&self, req: Request) -> Response {
        Next { rest: &self.middleware, handler: &*self.handler }.run(req)
    }

    /// Runs the chain on the request in `slot` (see [`Handler::call_in_place`]).
    pub(crate) fn call_in_place(&self, slot: &mut Option<Request>) -> Response {
        if self.middleware.is_empty() {
            return self.handler.call_in_place(slot);
        }
        self.call_chain(slot)
    }

    // Out of line: the request is copied into this frame, which an app
    // without middleware never needs.
    #[inline(never)]
    fn call_chain(&self, slot: &mut Option<Request>) -> Response {
        take_then(slot, |req| self.call(req))
    }
}

impl<H: Handler> From<H> for App {
    fn from(h: H) -> App {
        App::new(h)
    }
}
