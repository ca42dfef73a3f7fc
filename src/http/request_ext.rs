//! The request extensions the server fills in ([`ConnInfo`]) and the
//! [`RequestExt`] accessors on requests.

use std::net::SocketAddr;

use super::query::{percent_decode, query_pairs};
use super::request::RequestView;
use super::router::Params;

/// The serving connection's facts, per green thread: set once per connection
/// by the server and updated in place per request, so requests carry no
/// per-request extension allocation.
static CONNECTION: crate::LocalKey<std::rc::Rc<std::cell::Cell<ConnInfo>>> = crate::LocalKey::new();

pub(crate) fn set_connection_info(info: std::rc::Rc<std::cell::Cell<ConnInfo>>) {
    CONNECTION.set(info);
}

/// Facts about the connection a request came in on. The server keeps them
/// on the connection's green thread; a `ConnInfo` put in a request's
/// extensions (by a test or a proxy layer) takes precedence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnInfo {
    /// The peer's address (`None` on a Unix socket).
    pub peer: Option<SocketAddr>,
    /// The worker (0-based) serving the connection.
    pub worker: usize,
    /// A number unique to this request within its worker's lifetime.
    pub request_id: u64,
}

/// Convenience accessors on requests: route parameters, the query string and
/// connection facts.
///
/// ```
/// use greenloop::http::{Body, Request, RequestExt};
/// let req: Request = Request::builder().uri("/search?q=green+loop&page=2").body(Body::empty()).unwrap();
/// assert_eq!(req.query("q").as_deref(), Some("green loop"));
/// assert_eq!(req.query("missing"), None);
/// ```
pub trait RequestExt {
    /// The connection facts: from the request's extensions if a
    /// `ConnInfo` was put there, else from the serving connection (on the
    /// green thread that is handling the request).
    fn conn_info(&self) -> Option<ConnInfo>;

    /// The route parameter `name` (percent-decoded), when the router matched
    /// a pattern with parameters.
    fn param(&self, name: &str) -> Option<&str>;

    /// All route parameters; `None` when the matched route has none.
    fn params(&self) -> Option<&Params>;

    /// The first value of query parameter `key`, percent-decoded (`+` is a
    /// space). Keys are compared after decoding.
    fn query(&self, key: &str) -> Option<String>;

    /// Every query pair in order, percent-decoded; see [`query_pairs`].
    fn query_pairs(&self) -> Vec<(String, String)>;

    /// The peer's socket address (`None` on a Unix socket or without [`ConnInfo`]).
    ///
    /// This is the direct peer: behind a proxy it is the proxy.
    fn peer_addr(&self) -> Option<SocketAddr>;

    /// The request's number within its worker (from [`ConnInfo`]).
    fn request_id(&self) -> Option<u64>;
}

impl<R: RequestView> RequestExt for R {
    fn conn_info(&self) -> Option<ConnInfo> {
        match self.view_extensions().get::<ConnInfo>() {
            Some(info) => Some(*info),
            None => CONNECTION.with(|c| c.map(|c| c.get())),
        }
    }

    fn param(&self, name: &str) -> Option<&str> {
        self.params()?.get(name)
    }

    fn params(&self) -> Option<&Params> {
        self.view_extensions().get::<Params>()
    }

    fn query(&self, key: &str) -> Option<String> {
        let query = self.view_query()?;
        query.split('&').filter(|seg| !seg.is_empty()).find_map(|seg| {
            let (k, v) = seg.split_once('=').unwrap_or((seg, ""));
            (percent_decode(k) == key).then(|| percent_decode(v).into_owned())
        })
    }

    fn query_pairs(&self) -> Vec<(String, String)> {
        self.view_query().map(query_pairs).unwrap_or_default()
    }

    fn peer_addr(&self) -> Option<SocketAddr> {
        self.conn_info()?.peer
    }

    fn request_id(&self) -> Option<u64> {
        Some(self.conn_info()?.request_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{Body, Request};

    fn req(uri: &str) -> Request {
        Request::builder().uri(uri).body(Body::empty()).unwrap()
    }

    #[test]
    fn request_query_accessors() {
        let r = req("/p?x=1&y=hello+world&x=2&enc%5Bkey%5D=%F0%9F%A6%80&empty=&flag");
        assert_eq!(r.query("x").as_deref(), Some("1"));
        assert_eq!(r.query("y").as_deref(), Some("hello world"));
        assert_eq!(r.query("enc[key]").as_deref(), Some("🦀"));
        assert_eq!(r.query("empty").as_deref(), Some(""));
        assert_eq!(r.query("flag").as_deref(), Some(""));
        assert_eq!(r.query("nope"), None);
        assert_eq!(r.query_pairs().len(), 6);
        assert_eq!(req("/p").query("x"), None);
        assert!(req("/p").query_pairs().is_empty());
        assert!(req("/p?").query_pairs().is_empty());
    }

    #[test]
    fn conn_accessors() {
        let mut r = req("/");
        assert_eq!(r.peer_addr(), None);
        assert_eq!(r.request_id(), None);
        assert!(r.params().is_none());
        assert_eq!(r.param("id"), None);
        let peer: SocketAddr = "10.0.0.1:5555".parse().unwrap();
        r.extensions_mut().insert(ConnInfo { peer: Some(peer), worker: 1, request_id: 42 });
        assert_eq!(r.peer_addr(), Some(peer));
        assert_eq!(r.request_id(), Some(42));
        assert_eq!(r.conn_info().map(|c| c.worker), Some(1));
    }
}
