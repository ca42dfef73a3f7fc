//! Request extensions the server fills in, and query-string helpers.

use std::borrow::Cow;
use std::net::SocketAddr;

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
/// let req: Request = http::Request::builder().uri("/search?q=green+loop&page=2").body(Body::empty()).unwrap();
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

impl<B> RequestExt for http::Request<B> {
    fn conn_info(&self) -> Option<ConnInfo> {
        match self.extensions().get::<ConnInfo>() {
            Some(info) => Some(*info),
            None => CONNECTION.with(|c| c.map(|c| c.get())),
        }
    }

    fn param(&self, name: &str) -> Option<&str> {
        self.params()?.get(name)
    }

    fn params(&self) -> Option<&Params> {
        self.extensions().get::<Params>()
    }

    fn query(&self, key: &str) -> Option<String> {
        let query = self.uri().query()?;
        query.split('&').filter(|seg| !seg.is_empty()).find_map(|seg| {
            let (k, v) = seg.split_once('=').unwrap_or((seg, ""));
            (percent_decode(k) == key).then(|| percent_decode(v).into_owned())
        })
    }

    fn query_pairs(&self) -> Vec<(String, String)> {
        self.uri().query().map(query_pairs).unwrap_or_default()
    }

    fn peer_addr(&self) -> Option<SocketAddr> {
        self.conn_info()?.peer
    }

    fn request_id(&self) -> Option<u64> {
        Some(self.conn_info()?.request_id)
    }
}

/// Decodes a query component: `%XX` escapes become bytes and `+` becomes a
/// space. An invalid escape (`%` not followed by two hex digits) is kept
/// literally; bytes that are not UTF-8 are replaced with U+FFFD.
///
/// Borrows when there is nothing to decode.
///
/// ```
/// use greenloop::http::percent_decode;
/// assert_eq!(percent_decode("a+b%21"), "a b!");
/// assert_eq!(percent_decode("100%"), "100%");
/// assert_eq!(percent_decode("%zz"), "%zz");
/// ```
pub fn percent_decode(s: &str) -> Cow<'_, str> {
    decode(s, true)
}

/// Decodes a path segment: like [`percent_decode`] but `+` stays a `+`.
pub(crate) fn percent_decode_path(s: &str) -> Cow<'_, str> {
    decode(s, false)
}

fn decode(s: &str, plus_is_space: bool) -> Cow<'_, str> {
    let bytes = s.as_bytes();
    let needs = bytes.iter().any(|&b| b == b'%' || (plus_is_space && b == b'+'));
    if !needs {
        return Cow::Borrowed(s);
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'%' => match (bytes.get(i + 1).and_then(|&h| hex(h)), bytes.get(i + 2).and_then(|&l| hex(l))) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' if plus_is_space => out.push(b' '),
            _ => out.push(b),
        }
        i += 1;
    }
    match String::from_utf8(out) {
        Ok(s) => Cow::Owned(s),
        Err(e) => Cow::Owned(String::from_utf8_lossy(e.as_bytes()).into_owned()),
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Splits a query string (without the `?`) into decoded pairs, in order.
///
/// Segments are separated by `&` and empty ones skipped; each splits at its
/// first `=`, a segment without `=` being a key with an empty value. Both
/// sides are decoded with [`percent_decode`].
///
/// ```
/// use greenloop::http::query_pairs;
/// let pairs = query_pairs("a=1&&flag&b=x%3Dy=z");
/// assert_eq!(pairs, [("a".into(), "1".into()), ("flag".into(), "".into()), ("b".into(), "x=y=z".into())]);
/// ```
pub fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|seg| !seg.is_empty())
        .map(|seg| {
            let (k, v) = seg.split_once('=').unwrap_or((seg, ""));
            (percent_decode(k).into_owned(), percent_decode(v).into_owned())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{Body, Request};

    fn req(uri: &str) -> Request {
        http::Request::builder().uri(uri).body(Body::empty()).unwrap()
    }

    #[test]
    fn decode_basics() {
        assert!(matches!(percent_decode("plain"), Cow::Borrowed("plain")));
        assert_eq!(percent_decode("a%20b"), "a b");
        assert_eq!(percent_decode("a+b"), "a b");
        assert_eq!(percent_decode("%2B"), "+");
        assert_eq!(percent_decode("%e2%82%AC"), "€");
        assert_eq!(percent_decode(""), "");
    }

    #[test]
    fn decode_invalid_escapes_kept() {
        assert_eq!(percent_decode("%"), "%");
        assert_eq!(percent_decode("%4"), "%4");
        assert_eq!(percent_decode("%4g"), "%4g");
        assert_eq!(percent_decode("%%41"), "%A");
        assert_eq!(percent_decode("50%+off"), "50% off");
    }

    #[test]
    fn decode_invalid_utf8_is_lossy() {
        assert_eq!(percent_decode("%ff"), "\u{fffd}");
        assert_eq!(percent_decode("a%c3"), "a\u{fffd}");
        assert_eq!(percent_decode("%C3%A9%80"), "é\u{fffd}");
    }

    #[test]
    fn path_decoding_keeps_plus() {
        assert_eq!(percent_decode_path("a+b%20c"), "a+b c");
        assert!(matches!(percent_decode_path("a+b"), Cow::Borrowed(_)));
    }

    #[test]
    fn pairs_edge_cases() {
        assert!(query_pairs("").is_empty());
        assert!(query_pairs("&&&").is_empty());
        assert_eq!(query_pairs("k"), [("k".to_string(), String::new())]);
        assert_eq!(query_pairs("=v"), [(String::new(), "v".to_string())]);
        assert_eq!(query_pairs("a=1=2"), [("a".to_string(), "1=2".to_string())]);
        assert_eq!(
            query_pairs("a%20b=c+d&a=2"),
            [("a b".to_string(), "c d".to_string()), ("a".to_string(), "2".to_string())]
        );
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
