//! Request extensions the server fills in, and query-string helpers.

use std::borrow::Cow;
use std::net::SocketAddr;

/// Facts about the connection a request came in on, in the request's extensions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnInfo {
    /// The peer's address (`None` on a Unix socket).
    pub peer: Option<SocketAddr>,
    /// The worker (0-based) serving the connection.
    pub worker: usize,
    /// A number unique to this request within its worker's lifetime.
    pub request_id: u64,
}

/// Convenience accessors on requests. (STUB: filled in by the router work.)
pub trait RequestExt {
    /// The connection facts.
    fn conn_info(&self) -> Option<&ConnInfo>;
}

impl<B> RequestExt for http::Request<B> {
    fn conn_info(&self) -> Option<&ConnInfo> {
        self.extensions().get::<ConnInfo>()
    }
}

/// Decodes `%XX` escapes (and `+` as space) in a query component. (STUB)
pub fn percent_decode(s: &str) -> Cow<'_, str> {
    Cow::Borrowed(s)
}

/// Splits a query string into decoded pairs. (STUB)
pub fn query_pairs(_query: &str) -> Vec<(String, String)> {
    Vec::new()
}
