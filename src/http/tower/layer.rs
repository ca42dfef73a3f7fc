//! tower layers around a greenloop [`App`].

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};

use tower_layer::Layer;
use tower_service::Service;

use super::BoxError;
use super::request_body::TowerBody;
use super::response_body::{GreenResponseBody, reader};
use crate::cancel::Cancel;
use crate::http::{App, Body, Handler, Request, Response};

/// A greenloop [`App`] as a tower [`Service`]: what a tower [`Layer`] wraps
/// when an App goes under one (see [`App::layer`]).
///
/// The App's handler is blocking code that parks, and a future must not
/// park inside `poll`; so each call runs the App on a green thread of its
/// own (on the same loop) and the future waits for it. When the future is
/// dropped before that (a `TimeoutLayer` fired), the App's green thread is
/// cancelled: its waits end (`greenloop::cancel`), it stops.
///
/// The request body it gets is read as the layers hand it on: a
/// [`TowerBody`] straight through, or whatever body type a layer made of
/// it (a size limit, decompression).
#[derive(Clone, Debug)]
pub struct AppService {
    app: App,
}

impl AppService {
    /// The App as a service.
    pub fn new(app: impl Into<App>) -> AppService {
        AppService { app: app.into() }
    }
}

struct Outcome {
    response: Option<std::thread::Result<Response>>,
    waker: Option<Waker>,
}

/// The future of one [`AppService`] call.
pub struct AppFuture {
    outcome: Rc<RefCell<Outcome>>,
    cancel: Cancel,
}

impl std::fmt::Debug for AppFuture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppFuture").finish_non_exhaustive()
    }
}

impl Future for AppFuture {
    type Output = Result<http::Response<GreenResponseBody>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut o = self.outcome.borrow_mut();
        match o.response.take() {
            Some(Ok(res)) => {
                let (parts, body) = res.into_parts();
                Poll::Ready(Ok(http::Response::from_parts(parts, GreenResponseBody::new(body))))
            }
            // The handler panicked on its green thread: the panic goes on
            // here, up through the layers to the server, which answers 500
            // for this request as for any handler's panic.
            Some(Err(panic)) => std::panic::resume_unwind(panic),
            None => {
                o.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

impl Drop for AppFuture {
    fn drop(&mut self) {
        let unfinished = self.outcome.borrow().response.is_none();
        if unfinished {
            self.cancel.cancel();
        }
    }
}

impl<B> Service<http::Request<B>> for AppService
where
    B: http_body::Body + 'static,
    B::Error: Into<BoxError>,
{
    type Response = http::Response<GreenResponseBody>;
    type Error = BoxError;
    type Future = AppFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> AppFuture {
        let (parts, body) = req.into_parts();
        let length = http_body::Body::size_hint(&body).exact();
        let body = match length {
            Some(0) => Body::empty(),
            _ => into_body(body, length),
        };
        let req = Request::from_parts(parts, body);
        let outcome = Rc::new(RefCell::new(Outcome { response: None, waker: None }));
        let cancel = Cancel::new();
        let (o, c, app) = (outcome.clone(), cancel.clone(), self.app.clone());
        // The span a layer entered around this call (tower-http's
        // `TraceLayer`) goes on around the App on its own green thread.
        #[cfg(feature = "tracing")]
        let span = tracing::Span::current();
        crate::spawn_detached(move || {
            #[cfg(feature = "tracing")]
            let _entered = span.enter();
            // greenloop's catch_unwind: the unwind of a shutdown passes through.
            let r = crate::catch_unwind(|| c.run(|| app.call(req)));
            let response = match r {
                Ok(Ok(res)) => Ok(res),
                // Cancelled: nobody waits for it any more.
                Ok(Err(_)) => return,
                Err(p) => Err(p),
            };
            let mut out = o.borrow_mut();
            out.response = Some(response);
            if let Some(w) = out.waker.take() {
                drop(out);
                w.wake();
            }
        });
        AppFuture { outcome, cancel }
    }
}

/// A body of the layers' type as greenloop's [`Body`], read through
/// `block_on` by the App's green thread as its handler reads (never here:
/// `call` runs inside the layers' poll).
fn into_body<B>(body: B, length: Option<u64>) -> Body
where
    B: http_body::Body + 'static,
    B::Error: Into<BoxError>,
{
    Body::from_reader(reader(body), length)
}

/// An [`App`] under a tower [`Layer`]: a greenloop [`Handler`]. Made by
/// [`wrap`] (and inside [`App::layer`]).
pub struct Layered<S> {
    service: Mutex<S>,
}

impl<S> std::fmt::Debug for Layered<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Layered").finish_non_exhaustive()
    }
}

impl App {
    /// Wraps this App in a tower [`Layer`] (tower-http's `CorsLayer`,
    /// `TimeoutLayer`, `CompressionLayer`, `SetRequestIdLayer`, a
    /// `tower::ServiceBuilder` of several): the result is an App again, to
    /// serve, route to, or wrap further.
    ///
    /// Why it works with blocking handlers: the App runs as an
    /// [`AppService`] on a green thread of its own per request, while the
    /// layers' futures run through [`block_on`](crate::block_on) on the
    /// request's green thread; nothing parks inside a poll. A layer that
    /// answers without calling the App (a CORS preflight, a timeout) ends
    /// the App's green thread through [`Cancel`].
    ///
    /// Cost: a green thread per request (about as much as a spawn and a
    /// join), and a pipe per request body and per streamed response body.
    ///
    /// ```
    /// # #[cfg(feature = "tower")] {
    /// use greenloop::http::{App, Request};
    /// use tower::ServiceBuilder;
    ///
    /// let app = App::new(|_req: Request| "hi").layer(
    ///     ServiceBuilder::new().layer(tower::util::MapResponseLayer::new(|res: http::Response<_>| res)),
    /// );
    /// # drop(app);
    /// # }
    /// ```
    pub fn layer<L, B>(self, layer: L) -> App
    where
        L: Layer<AppService>,
        L::Service: Service<http::Request<TowerBody>, Response = http::Response<B>> + Clone + Send + 'static,
        <L::Service as Service<http::Request<TowerBody>>>::Error: Into<BoxError>,
        B: http_body::Body + 'static,
        B::Error: Into<BoxError>,
    {
        App::new(wrap(self, layer))
    }
}

/// Puts one handler (or App) under a tower [`Layer`], as a handler: for a
/// layer on a single route (`.route("/upload", post(wrap(upload, limit)))`),
/// where [`App::layer`] covers a whole App.
///
/// ```
/// # #[cfg(feature = "tower")] {
/// use greenloop::http::tower::wrap;
/// use greenloop::http::{Request, Router, get};
///
/// let only_here = tower::util::MapResponseLayer::new(|mut res: http::Response<_>| {
///     res.headers_mut().insert("x-route", http::HeaderValue::from_static("reports"));
///     res
/// });
/// let router = Router::new()
///     .route("/reports", get(wrap(|_req: Request| "report", only_here)))
///     .route("/other", get(|_req: Request| "no header"));
/// # drop(router);
/// # }
/// ```
pub fn wrap<L, B>(handler: impl Into<App>, layer: L) -> Layered<L::Service>
where
    L: Layer<AppService>,
    L::Service: Service<http::Request<TowerBody>, Response = http::Response<B>> + Clone + Send + 'static,
    <L::Service as Service<http::Request<TowerBody>>>::Error: Into<BoxError>,
    B: http_body::Body + 'static,
    B::Error: Into<BoxError>,
{
    Layered { service: Mutex::new(layer.layer(AppService::new(handler))) }
}

impl<S, B> Handler for Layered<S>
where
    S: Service<http::Request<TowerBody>, Response = http::Response<B>> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body + 'static,
    B::Error: Into<BoxError>,
{
    fn call(&self, req: Request) -> Response {
        let (parts, body) = req.into_parts();
        super::service::call_service(&self.service, http::Request::from_parts(parts, TowerBody::new(body)), "layer")
    }
}
