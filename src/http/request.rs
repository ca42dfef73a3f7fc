//! [`Request`]: what a handler gets, reading its head where it arrived.

use std::cell::OnceCell;
use std::fmt;

use http::{Extensions, HeaderMap, Method, Uri, Version};

use super::body::Body;
use super::codec::{RawHead, RequestHead};

/// An HTTP request as a handler sees it: method, target, version, header
/// fields, extensions and a streaming [`Body`].
///
/// It reads like `http::Request<Body>` (the same method names: `method()`,
/// `uri()`, `headers()`, `extensions()`, `body_mut()`...), so code written
/// for hyper or axum reads the same, and [`into_http`](Request::into_http)
/// and `From<http::Request<Body>>` convert both ways.
///
/// What differs is underneath. A request the server parsed keeps its head
/// as it arrived: [`path`](Request::path), [`query_string`](Request::query_string)
/// and [`header`](Request::header) read the received bytes, and the owned
/// `Uri` and `HeaderMap` are built the first time [`uri`](Request::uri) or
/// [`headers`](Request::headers) is called, not for every request. Building
/// them is most of what a server would otherwise spend per request, and a
/// router, a handler that reads one header, or a health check never needs
/// them.
///
/// ```
/// use greenloop::http::{Body, Request};
///
/// let req: Request = http::Request::builder()
///     .uri("/items?page=2")
///     .header("accept", "application/json")
///     .body(Body::empty())
///     .unwrap()
///     .into();
/// assert_eq!(req.path(), "/items");
/// assert_eq!(req.query_string(), Some("page=2"));
/// assert_eq!(req.header("Accept"), Some(&b"application/json"[..]));
/// assert_eq!(req.headers().len(), 1);
/// ```
pub struct Request {
    method: Method,
    version: Version,
    /// The head as received (a request the server parsed); `None` for one
    /// built from parts, whose `uri` and `headers` are then always set.
    raw: Option<RawHead>,
    /// The owned target and fields, once built (out of line: most requests
    /// never build them, and a request is moved through every middleware).
    owned: OnceCell<Box<Owned>>,
    extensions: Extensions,
    body: Body,
}

/// The `http` types of a request, built when first asked for.
#[derive(Default)]
struct Owned {
    uri: OnceCell<Uri>,
    headers: OnceCell<HeaderMap>,
}

impl Request {
    /// A `GET /` HTTP/1.1 request with no header fields and `body`.
    pub fn new(body: Body) -> Request {
        Request::from_parts(http::Request::new(()).into_parts().0, body)
    }

    /// A builder, as `http::Request::builder()`: method, target, version,
    /// header fields and extensions, then [`body`](RequestBuilder::body).
    ///
    /// ```
    /// use greenloop::http::{Body, Request};
    /// let req = Request::builder().method("POST").uri("/items").header("x-a", "1").body(Body::from("{}")).unwrap();
    /// assert_eq!((req.method().as_str(), req.path()), ("POST", "/items"));
    /// ```
    pub fn builder() -> RequestBuilder {
        RequestBuilder { inner: http::Request::builder() }
    }

    /// The request the server parsed into `head`, with its body.
    pub(crate) fn from_head(head: RequestHead, body: Body) -> Request {
        let RequestHead { method, version, raw, .. } = head;
        Request { method, version, raw: Some(raw), owned: OnceCell::new(), extensions: Extensions::new(), body }
    }

    /// A request from `http`'s parts and a body.
    pub fn from_parts(parts: http::request::Parts, body: Body) -> Request {
        let http::request::Parts { method, uri, version, headers, extensions, .. } = parts;
        Request {
            method,
            version,
            raw: None,
            owned: OnceCell::from(Box::new(Owned { uri: OnceCell::from(uri), headers: OnceCell::from(headers) })),
            extensions,
            body,
        }
    }

    /// Splits the request into `http`'s parts (the target and the header
    /// fields built if they were not yet) and its body.
    pub fn into_parts(self) -> (http::request::Parts, Body) {
        let req = self.into_http();
        req.into_parts()
    }

    /// The request as an `http::Request`, for code written against that
    /// type (tower services, hyper clients).
    pub fn into_http(mut self) -> http::Request<Body> {
        let uri = std::mem::take(self.uri_mut());
        let headers = std::mem::take(self.headers_mut());
        let mut req = http::Request::new(self.body);
        *req.method_mut() = self.method;
        *req.uri_mut() = uri;
        *req.version_mut() = self.version;
        *req.headers_mut() = headers;
        *req.extensions_mut() = self.extensions;
        req
    }

    /// The request method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The request method, to change it (a method-override middleware).
    pub fn method_mut(&mut self) -> &mut Method {
        &mut self.method
    }

    /// The HTTP version the request came in (HTTP/1.0, HTTP/1.1, HTTP/2).
    pub fn version(&self) -> Version {
        self.version
    }

    /// The HTTP version, to change it.
    pub fn version_mut(&mut self) -> &mut Version {
        &mut self.version
    }

    /// The request target as a `Uri`: built from the received bytes the
    /// first time it is asked for (a copy of the target); [`path`](Request::path)
    /// and [`query_string`](Request::query_string) cost nothing.
    pub fn uri(&self) -> &Uri {
        self.owned().uri.get_or_init(|| self.raw.as_ref().map_or_else(|| Uri::from_static("/"), RawHead::uri))
    }

    /// The request target, to change it (a prefix-stripping mount, a rewrite).
    pub fn uri_mut(&mut self) -> &mut Uri {
        self.uri();
        self.owned_mut().uri.get_mut().expect("initialised by uri()")
    }

    fn owned(&self) -> &Owned {
        self.owned.get_or_init(Box::default)
    }

    fn owned_mut(&mut self) -> &mut Owned {
        self.owned();
        self.owned.get_mut().expect("initialised by owned()")
    }

    /// The `Uri` if there is one already (built, set, or a target not in
    /// origin form), else the received head to read the target from.
    fn uri_as_is(&self) -> (Option<&Uri>, Option<&RawHead>) {
        let built = self.owned.get().and_then(|o| o.uri.get());
        let raw = self.raw.as_ref();
        (built.or_else(|| raw.and_then(RawHead::other_form)), raw)
    }

    /// The `HeaderMap` if it was built (or set).
    fn headers_built(&self) -> Option<&HeaderMap> {
        self.owned.get().and_then(|o| o.headers.get())
    }

    /// The path of the target (`/items` of `/items?page=2`), as received
    /// (percent-encoded).
    pub fn path(&self) -> &str {
        match self.uri_as_is() {
            (Some(uri), _) => uri.path(),
            (None, Some(raw)) => raw.path(),
            (None, None) => "/",
        }
    }

    /// The query of the target (`page=2` of `/items?page=2`), as received;
    /// `None` without a `?`. [`RequestExt::query`](super::RequestExt::query)
    /// decodes one parameter.
    pub fn query_string(&self) -> Option<&str> {
        match self.uri_as_is() {
            (Some(uri), _) => uri.query(),
            (None, Some(raw)) => raw.query(),
            (None, None) => None,
        }
    }

    /// The path and query as received (`/items?page=2`): what a log line
    /// shows. Empty for a target that is only an authority (`CONNECT`).
    pub fn target(&self) -> &str {
        match self.uri_as_is() {
            (Some(uri), _) => uri.path_and_query().map_or("", |p| p.as_str()),
            (None, Some(raw)) => raw.target(),
            (None, None) => "/",
        }
    }

    /// The header fields: built from the received bytes the first time they
    /// are asked for. To read one field, [`header`](Request::header) costs
    /// less.
    pub fn headers(&self) -> &HeaderMap {
        self.owned().headers.get_or_init(|| self.raw.as_ref().map(RawHead::header_map).unwrap_or_default())
    }

    /// The header fields, to change them.
    pub fn headers_mut(&mut self) -> &mut HeaderMap {
        self.headers();
        self.owned_mut().headers.get_mut().expect("initialised by headers()")
    }

    /// The value of the first header field named `name` (any case), as
    /// bytes: read from the received head without building the map.
    pub fn header(&self, name: impl AsRef<str>) -> Option<&[u8]> {
        let name = name.as_ref();
        match (self.headers_built(), &self.raw) {
            (Some(map), _) => map.get(name).map(|v| v.as_bytes()),
            (None, Some(raw)) => raw.get(name),
            (None, None) => None,
        }
    }

    /// The values of every header field named `name` (any case), in order:
    /// read from the received head without building the map.
    pub fn header_all<'a>(&'a self, name: &'a str) -> HeaderValues<'a> {
        let inner = match (self.headers_built(), &self.raw) {
            (Some(map), _) => Values::Map(map.get_all(name).into_iter()),
            (None, Some(raw)) => Values::Raw { raw, name, within: 0..raw.fields().len() },
            (None, None) => Values::Done,
        };
        HeaderValues { inner }
    }

    /// Per-request values put there by the server, middleware or the
    /// router (route parameters, a request id, a session).
    pub fn extensions(&self) -> &Extensions {
        &self.extensions
    }

    /// The extensions, to add to them.
    pub fn extensions_mut(&mut self) -> &mut Extensions {
        &mut self.extensions
    }

    /// The body.
    pub fn body(&self) -> &Body {
        &self.body
    }

    /// The body, to read it.
    pub fn body_mut(&mut self) -> &mut Body {
        &mut self.body
    }

    /// The body, dropping the rest of the request.
    pub fn into_body(self) -> Body {
        self.body
    }
}

/// Builds a [`Request`] (from [`Request::builder`]): `http`'s request
/// builder, finished with this crate's body.
#[derive(Debug)]
pub struct RequestBuilder {
    inner: http::request::Builder,
}

impl RequestBuilder {
    /// The method (`GET` unless set).
    pub fn method<T>(self, method: T) -> RequestBuilder
    where
        Method: TryFrom<T>,
        <Method as TryFrom<T>>::Error: Into<http::Error>,
    {
        RequestBuilder { inner: self.inner.method(method) }
    }

    /// The target (`/` unless set).
    pub fn uri<T>(self, uri: T) -> RequestBuilder
    where
        Uri: TryFrom<T>,
        <Uri as TryFrom<T>>::Error: Into<http::Error>,
    {
        RequestBuilder { inner: self.inner.uri(uri) }
    }

    /// The HTTP version (HTTP/1.1 unless set).
    pub fn version(self, version: Version) -> RequestBuilder {
        RequestBuilder { inner: self.inner.version(version) }
    }

    /// Appends a header field.
    pub fn header<K, V>(self, name: K, value: V) -> RequestBuilder
    where
        http::HeaderName: TryFrom<K>,
        <http::HeaderName as TryFrom<K>>::Error: Into<http::Error>,
        http::HeaderValue: TryFrom<V>,
        <http::HeaderValue as TryFrom<V>>::Error: Into<http::Error>,
    {
        RequestBuilder { inner: self.inner.header(name, value) }
    }

    /// Adds an extension.
    pub fn extension<T: Clone + Send + Sync + 'static>(self, value: T) -> RequestBuilder {
        RequestBuilder { inner: self.inner.extension(value) }
    }

    /// The request with `body`; an error if a part set before was invalid.
    pub fn body(self, body: impl Into<Body>) -> Result<Request, http::Error> {
        Ok(self.inner.body(body.into())?.into())
    }
}

/// The values of one header field, from [`Request::header_all`].
#[derive(Debug)]
pub struct HeaderValues<'a> {
    inner: Values<'a>,
}

#[derive(Debug)]
enum Values<'a> {
    Map(http::header::ValueIter<'a, http::HeaderValue>),
    /// The fields at positions `within` are still to be looked at.
    Raw {
        raw: &'a RawHead,
        name: &'a str,
        within: std::ops::Range<usize>,
    },
    Done,
}

impl<'a> Iterator for HeaderValues<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        match &mut self.inner {
            Values::Map(values) => values.next().map(http::HeaderValue::as_bytes),
            Values::Raw { raw, name, within } => {
                let (i, value) = raw.find(within.clone(), name, false)?;
                within.start = i + 1;
                Some(value)
            }
            Values::Done => None,
        }
    }
}

impl<'a> DoubleEndedIterator for HeaderValues<'a> {
    fn next_back(&mut self) -> Option<&'a [u8]> {
        match &mut self.inner {
            Values::Map(values) => values.next_back().map(http::HeaderValue::as_bytes),
            Values::Raw { raw, name, within } => {
                let (i, value) = raw.find(within.clone(), name, true)?;
                within.end = i;
                Some(value)
            }
            Values::Done => None,
        }
    }
}

/// What the request accessor traits ([`RequestExt`](super::RequestExt),
/// `RequestCookies`) read, on this crate's [`Request`] and on an
/// `http::Request` (what tower layers hand on).
pub(crate) trait RequestView {
    fn view_extensions(&self) -> &Extensions;
    fn view_query(&self) -> Option<&str>;
    #[cfg(feature = "cookies")]
    fn view_headers(&self) -> &HeaderMap;
}

impl RequestView for Request {
    fn view_extensions(&self) -> &Extensions {
        &self.extensions
    }
    fn view_query(&self) -> Option<&str> {
        self.query_string()
    }
    #[cfg(feature = "cookies")]
    fn view_headers(&self) -> &HeaderMap {
        self.headers()
    }
}

impl<B> RequestView for http::Request<B> {
    fn view_extensions(&self) -> &Extensions {
        self.extensions()
    }
    fn view_query(&self) -> Option<&str> {
        self.uri().query()
    }
    #[cfg(feature = "cookies")]
    fn view_headers(&self) -> &HeaderMap {
        self.headers()
    }
}

impl Default for Request {
    fn default() -> Request {
        Request::new(Body::empty())
    }
}

impl From<http::Request<Body>> for Request {
    fn from(req: http::Request<Body>) -> Request {
        let (parts, body) = req.into_parts();
        Request::from_parts(parts, body)
    }
}

impl From<Request> for http::Request<Body> {
    fn from(req: Request) -> http::Request<Body> {
        req.into_http()
    }
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("uri", self.uri())
            .field("version", &self.version)
            .field("headers", self.headers())
            .field("body", &self.body)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::codec::{CodecLimits, parse_request};

    fn parsed(head: &str) -> Request {
        let (head, _) = parse_request(head.as_bytes(), &CodecLimits::default()).unwrap().unwrap();
        Request::from_head(head, Body::empty())
    }

    #[test]
    fn a_parsed_request_reads_its_bytes_until_asked_for_owned_parts() {
        let req = parsed("POST /a%20b/c?x=1&y=%41 HTTP/1.1\r\nHost: example.com\r\nX-Token: abc\r\n\r\n");
        assert_eq!(req.method(), Method::POST);
        assert_eq!(
            (req.path(), req.query_string(), req.target()),
            ("/a%20b/c", Some("x=1&y=%41"), "/a%20b/c?x=1&y=%41")
        );
        assert_eq!(req.header("x-token"), Some(&b"abc"[..]));
        assert_eq!(req.header_all("X-TOKEN").collect::<Vec<_>>(), [b"abc"]);
        let many = parsed("GET / HTTP/1.1\r\nHost: h\r\nX-F: 1\r\nX-Other: 0\r\nx-f: 2\r\nX-F: 3\r\n\r\n");
        assert_eq!(many.header_all("x-f").rev().collect::<Vec<_>>(), [b"3", b"2", b"1"]);
        let mut both_ends = many.header_all("X-f");
        assert_eq!((both_ends.next(), both_ends.next_back()), (Some(&b"1"[..]), Some(&b"3"[..])));
        assert_eq!((both_ends.next_back(), both_ends.next(), both_ends.next_back()), (Some(&b"2"[..]), None, None));
        assert!(req.owned.get().is_none(), "nothing was built");
        assert_eq!(req.uri(), "/a%20b/c?x=1&y=%41");
        assert_eq!(req.headers()["host"], "example.com");
        assert_eq!(req.version(), Version::HTTP_11);
    }

    #[test]
    fn changes_through_the_mut_accessors_are_what_is_read_after() {
        let mut req = parsed("GET /old?q=1 HTTP/1.1\r\nHost: h\r\nAccept: */*\r\n\r\n");
        *req.uri_mut() = Uri::from_static("/new");
        assert_eq!((req.path(), req.query_string()), ("/new", None));
        req.headers_mut().insert("accept", http::HeaderValue::from_static("text/html"));
        req.headers_mut().remove("host");
        assert_eq!(req.header("Accept"), Some(&b"text/html"[..]));
        assert_eq!(req.header("host"), None);
        req.headers_mut().append("accept", http::HeaderValue::from_static("a/b"));
        assert_eq!(req.header_all("accept").collect::<Vec<_>>(), [&b"text/html"[..], b"a/b"]);
        assert_eq!(req.header_all("accept").rev().collect::<Vec<_>>(), [&b"a/b"[..], b"text/html"]);
        let http = req.into_http();
        assert_eq!(http.uri(), "/new");
        assert_eq!(http.headers().len(), 2);
    }

    #[test]
    fn targets_not_in_origin_form_read_from_their_uri() {
        let req = parsed("GET http://example.com/p?q HTTP/1.1\r\nHost: example.com\r\n\r\n");
        assert_eq!((req.path(), req.query_string(), req.target()), ("/p", Some("q"), "/p?q"));
        assert_eq!(req.uri().host(), Some("example.com"));
        let req = parsed("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!(req.target(), "*");
    }

    #[test]
    fn a_request_is_small_to_move() {
        // Moved through every middleware by value, and kept in the slot
        // under the handler (stack a parked connection keeps resident):
        // the owned target and fields are out of line for this.
        let size = std::mem::size_of::<Request>();
        assert!(size <= 128, "a request takes {size} bytes");
        eprintln!("size_of::<Request>() = {size}");
    }

    #[test]
    fn conversions_keep_every_part() {
        let mut http = http::Request::builder()
            .method("PUT")
            .uri("/x?y")
            .version(Version::HTTP_10)
            .header("a", "1")
            .body(Body::from("hi"))
            .unwrap();
        http.extensions_mut().insert(7u32);
        let req = Request::from(http);
        assert_eq!((req.method(), req.path(), req.version()), (&Method::PUT, "/x", Version::HTTP_10));
        assert_eq!(req.extensions().get::<u32>(), Some(&7));
        let mut back = http::Request::from(req);
        assert_eq!(back.headers()["a"], "1");
        let mut s = String::new();
        std::io::Read::read_to_string(back.body_mut(), &mut s).unwrap();
        assert_eq!(s, "hi");
        let d = Request::default();
        assert_eq!((d.method(), d.path(), d.headers().len()), (&Method::GET, "/", 0));
    }
}
