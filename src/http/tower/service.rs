//! A tower `Service` (an axum `Router`) as a greenloop handler.

use std::future::poll_fn;
use std::sync::Mutex;

use http::uri::PathAndQuery;
use http::{StatusCode, Uri};
use tower_service::Service;

use super::BoxError;
use super::request_body::TowerBody;
use super::response_body::into_response_body;
use crate::http::{Handler, IntoResponse, Request, Response};

/// A tower [`Service`] that answers greenloop requests: mount it on a
/// [`Router`](crate::http::Router) route or fallback like any handler.
/// Made by [`service`].
///
/// Each request clones the service (tower's rule for concurrent calls; an
/// axum `Router` clones cheaply), waits for `poll_ready`, and runs the call
/// with [`block_on`](crate::block_on): the green thread parks while the
/// service waits, so thousands of slow calls share one worker. With the
/// `tokio` feature `block_on` enters a tokio runtime's context around each
/// poll, so handlers that `await` tokio timers, sockets or `tokio::spawn`
/// work. The request body reaches the service as a [`TowerBody`]; its
/// response body is streamed to the client as the service produces it.
///
/// A service that fails answers 500 with its error; a service that panics
/// answers 500 for that request only, like any handler.
pub struct TowerHandler<S> {
    // A Mutex only to make the handler `Sync` (tower services are `Send`,
    // rarely `Sync`): it is locked just long enough to clone the service.
    service: Mutex<S>,
    strip: Option<String>,
}

impl<S> std::fmt::Debug for TowerHandler<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TowerHandler").field("strip_prefix", &self.strip).finish_non_exhaustive()
    }
}

/// Wraps a tower service (an axum `Router`, a `tower::ServiceBuilder`
/// stack) as a greenloop handler.
///
/// ```
/// # #[cfg(feature = "tower")] {
/// use greenloop::http::{Request, Router, get, any};
/// use greenloop::http::tower::service;
///
/// // Any tower service of http requests; an axum Router is one.
/// let svc = tower::service_fn(|_req: http::Request<greenloop::http::tower::TowerBody>| async {
///     Ok::<_, std::convert::Infallible>(http::Response::new(String::from("from tower")))
/// });
/// let router = Router::new()
///     .route("/native", get(|_req: Request| "from greenloop"))
///     .fallback(service(svc));
/// # drop(router);
/// # }
/// ```
pub fn service<S>(service: S) -> TowerHandler<S> {
    TowerHandler { service: Mutex::new(service), strip: None }
}

impl<S> TowerHandler<S> {
    /// Removes `prefix` from the front of each request's path before the
    /// service sees it (`/api/users/7` reaches it as `/users/7`), as axum's
    /// `Router::nest` does: for a service mounted at `"{prefix}/{*rest}"`
    /// whose own routes start at `/`.
    pub fn strip_prefix(mut self, prefix: &str) -> TowerHandler<S> {
        self.strip = Some(prefix.trim_end_matches('/').to_owned());
        self
    }
}

/// `uri` without `prefix` at the front of its path (`/` if nothing is left).
fn strip(uri: &Uri, prefix: &str) -> Option<Uri> {
    let rest = uri.path().strip_prefix(prefix)?;
    if !(rest.is_empty() || rest.starts_with('/')) {
        return None;
    }
    let path = if rest.is_empty() { "/" } else { rest };
    let pq = match uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_owned(),
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = Some(PathAndQuery::try_from(pq).ok()?);
    Uri::from_parts(parts).ok()
}

impl<S, B> Handler for TowerHandler<S>
where
    S: Service<http::Request<TowerBody>, Response = http::Response<B>> + Clone + Send + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body + 'static,
    B::Error: Into<BoxError>,
{
    fn call(&self, req: Request) -> Response {
        let (mut parts, body) = req.into_parts();
        if let Some(prefix) = &self.strip {
            match strip(&parts.uri, prefix) {
                Some(uri) => parts.uri = uri,
                None => return StatusCode::NOT_FOUND.into_response(),
            }
        }
        call_service(&self.service, http::Request::from_parts(parts, TowerBody::new(body)), "service")
    }
}

/// Calls a clone of the service in `shared` with `req` through
/// [`block_on`](crate::block_on), and makes its answer a greenloop response:
/// a failure is a 500 naming `what` failed (a "service", a "layer").
pub(super) fn call_service<S, B>(shared: &Mutex<S>, req: http::Request<TowerBody>, what: &str) -> Response
where
    S: Service<http::Request<TowerBody>, Response = http::Response<B>> + Clone,
    S::Error: Into<BoxError>,
    B: http_body::Body + 'static,
    B::Error: Into<BoxError>,
{
    let mut svc = shared.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let result = crate::block_on(async move {
        poll_fn(|cx| svc.poll_ready(cx)).await?;
        svc.call(req).await
    });
    match result {
        Ok(res) => {
            let (parts, body) = res.into_parts();
            Response::from_parts(parts, into_response_body(body))
        }
        Err(e) => {
            let e: BoxError = e.into();
            log::error!("greenloop: tower {what} failed: {e}");
            (StatusCode::INTERNAL_SERVER_ERROR, format!("{what} error: {e}\n")).into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strip_keeps_the_query_and_refuses_a_partial_segment() {
        let u: Uri = "/api/users/7?x=1".parse().unwrap();
        assert_eq!(strip(&u, "/api").unwrap(), "/users/7?x=1");
        assert_eq!(strip(&"/api".parse().unwrap(), "/api").unwrap(), "/");
        assert!(strip(&"/apix/1".parse().unwrap(), "/api").is_none());
        assert!(strip(&"/other".parse().unwrap(), "/api").is_none());
    }
}
