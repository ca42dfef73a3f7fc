//! [`Response`]: what a handler answers, its head built as it is written
//! when nothing asked for it before.

use std::cell::OnceCell;
use std::fmt;

use http::header::{self, HeaderMap, HeaderValue};
use http::{Extensions, StatusCode, Version};

use super::codec::HeadFields;

mod body;
mod into;
mod map_pool;

pub(crate) use body::Kind;
pub use body::ResponseBody;
pub use into::IntoResponse;

/// An HTTP response as handlers return it: status, version, header fields,
/// extensions and a [`ResponseBody`].
///
/// It reads like `http::Response<ResponseBody>` (the same method names:
/// `status()`, `headers_mut()`, `body()`, `into_parts()`...), so code written
/// for hyper or axum reads the same, and [`into_http`](Response::into_http)
/// and `From<http::Response<ResponseBody>>` convert both ways.
///
/// What differs is underneath. Most answers are a status, a body and its
/// `Content-Type` (`"text"`, `Json(v)`, `Html(s)`): those keep their type as
/// a reference to a constant, and the server writes their head from it
/// directly. The `HeaderMap` is made the first time [`headers`](Response::headers)
/// or [`headers_mut`](Response::headers_mut) is called (with the content
/// type in it), from maps earlier responses on this thread gave back. A
/// map with one field has already made two allocations and hashed the
/// name: a response nobody adds a field to pays for none of it.
///
/// ```
/// use greenloop::http::{IntoResponse, Response, ResponseBody};
/// use http::{StatusCode, header};
///
/// let mut res = "created".into_response();
/// *res.status_mut() = StatusCode::CREATED;
/// res.headers_mut().insert(header::LOCATION, "/items/7".parse().unwrap());
/// assert_eq!(res.headers()[header::CONTENT_TYPE], "text/plain; charset=utf-8");
/// assert_eq!(res.headers().len(), 2);
/// assert_eq!(res.body().as_bytes(), Some(&b"created"[..]));
///
/// let built = Response::builder().status(404).header("x-why", "gone").body(ResponseBody::empty()).unwrap();
/// assert_eq!(built.status(), StatusCode::NOT_FOUND);
/// ```
pub struct Response {
    status: StatusCode,
    version: Version,
    /// The `Content-Type` a conversion gave, while `headers` is unmade
    /// (once it is made, the map holds it and this is not read again).
    content_type: Option<&'static HeaderValue>,
    /// The header fields, once asked for (out of line: a response is moved
    /// from the handler through every middleware to the writer).
    headers: OnceCell<Box<HeaderMap>>,
    extensions: Extensions,
    body: ResponseBody,
}

/// A response's head as the server writes it (see [`Response::into_written`]).
pub(crate) struct Written {
    pub(crate) status: StatusCode,
    /// The fields: a map when one was made, else at most a content type.
    pub(crate) fields: Fields,
    pub(crate) extensions: Extensions,
    pub(crate) body: ResponseBody,
}

/// A written response's header fields.
pub(crate) enum Fields {
    /// Only this `Content-Type` (or none): no map was made.
    Typed(Option<&'static HeaderValue>),
    /// The map some code made: every field is in it.
    Map(Box<HeaderMap>),
}

impl Fields {
    /// The fields as the codec writes them.
    pub(crate) fn head(&self) -> HeadFields<'_> {
        match self {
            Fields::Typed(t) => HeadFields::Typed(*t),
            Fields::Map(map) => HeadFields::Map(map),
        }
    }

    /// Gives a map back to this thread's pool once the head is written.
    pub(crate) fn recycle(self) {
        if let Fields::Map(map) = self {
            map_pool::give(map);
        }
    }
}

impl Response {
    /// A `200 OK` HTTP/1.1 response with no header fields and `body`.
    pub fn new(body: ResponseBody) -> Response {
        Response {
            status: StatusCode::OK,
            version: Version::HTTP_11,
            content_type: None,
            headers: OnceCell::new(),
            extensions: Extensions::new(),
            body,
        }
    }

    /// A `200 OK` response whose one field is `Content-Type: content_type`:
    /// what `IntoResponse` makes of text, bytes, JSON and HTML.
    #[inline]
    pub(crate) fn typed(body: ResponseBody, content_type: &'static HeaderValue) -> Response {
        let mut r = Response::new(body);
        r.content_type = Some(content_type);
        r
    }

    /// A builder, as `http::Response::builder()`: status, version, header
    /// fields and extensions, then [`body`](ResponseBuilder::body).
    pub fn builder() -> ResponseBuilder {
        ResponseBuilder { inner: http::Response::builder() }
    }

    /// A response from `http`'s parts and a body.
    pub fn from_parts(parts: http::response::Parts, body: ResponseBody) -> Response {
        let http::response::Parts { status, version, headers, extensions, .. } = parts;
        Response { status, version, content_type: None, headers: OnceCell::from(Box::new(headers)), extensions, body }
    }

    /// Splits the response into `http`'s parts (the header map made if it
    /// was not yet) and its body.
    pub fn into_parts(self) -> (http::response::Parts, ResponseBody) {
        self.into_http().into_parts()
    }

    /// The response as an `http::Response`, for code written against that
    /// type (tower services, HTTP/2).
    pub fn into_http(mut self) -> http::Response<ResponseBody> {
        let headers = std::mem::take(self.headers_mut());
        let mut res = http::Response::new(self.body);
        *res.status_mut() = self.status;
        *res.version_mut() = self.version;
        *res.headers_mut() = headers;
        *res.extensions_mut() = self.extensions;
        res
    }

    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The status code, to change it.
    pub fn status_mut(&mut self) -> &mut StatusCode {
        &mut self.status
    }

    /// The version (an HTTP/1.1 server answers with HTTP/1.1 whatever this says).
    pub fn version(&self) -> Version {
        self.version
    }

    /// The version, to change it.
    pub fn version_mut(&mut self) -> &mut Version {
        &mut self.version
    }

    /// The header fields (the map is made on the first call).
    pub fn headers(&self) -> &HeaderMap {
        self.headers.get_or_init(|| self.make_map())
    }

    /// The header fields, to change them (the map is made on the first call).
    pub fn headers_mut(&mut self) -> &mut HeaderMap {
        if self.headers.get().is_none() {
            let map = self.make_map();
            self.headers = OnceCell::from(map);
        }
        self.headers.get_mut().expect("made just above")
    }

    /// The map `headers` starts from: a pooled one, with the content type.
    fn make_map(&self) -> Box<HeaderMap> {
        let mut map = map_pool::take();
        if let Some(t) = self.content_type {
            map.insert(header::CONTENT_TYPE, t.clone());
        }
        map
    }

    /// Values of any type, for middleware and handlers to pass along.
    pub fn extensions(&self) -> &Extensions {
        &self.extensions
    }

    /// The extensions, to change them.
    pub fn extensions_mut(&mut self) -> &mut Extensions {
        &mut self.extensions
    }

    /// The body.
    pub fn body(&self) -> &ResponseBody {
        &self.body
    }

    /// The body, to change or replace it.
    pub fn body_mut(&mut self) -> &mut ResponseBody {
        &mut self.body
    }

    /// The body, the rest dropped.
    pub fn into_body(self) -> ResponseBody {
        self.body
    }

    /// The same response with its body replaced by `f(body)` (a
    /// transformation: compression, a wrapper that counts bytes).
    pub fn map(mut self, f: impl FnOnce(ResponseBody) -> ResponseBody) -> Response {
        self.body = f(std::mem::take(&mut self.body));
        self
    }

    /// What the server writes: the fields as they are (a map only if one
    /// was made), the version dropped (the server's is written).
    pub(crate) fn into_written(self) -> Written {
        let fields = match self.headers.into_inner() {
            Some(map) => Fields::Map(map),
            None => Fields::Typed(self.content_type),
        };
        Written { status: self.status, fields, extensions: self.extensions, body: self.body }
    }
}

impl Default for Response {
    fn default() -> Response {
        Response::new(ResponseBody::empty())
    }
}

impl From<http::Response<ResponseBody>> for Response {
    fn from(res: http::Response<ResponseBody>) -> Response {
        let (parts, body) = res.into_parts();
        Response::from_parts(parts, body)
    }
}

impl From<Response> for http::Response<ResponseBody> {
    fn from(res: Response) -> http::Response<ResponseBody> {
        res.into_http()
    }
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("version", &self.version)
            .field("headers", self.headers())
            .field("body", &self.body)
            .finish()
    }
}

/// Builds a [`Response`] as `http::response::Builder` does (it is one
/// underneath): an invalid status or field is reported by [`body`](Self::body).
#[derive(Debug, Default)]
pub struct ResponseBuilder {
    inner: http::response::Builder,
}

impl ResponseBuilder {
    /// The status code (a `StatusCode` or a number).
    pub fn status<T>(self, status: T) -> ResponseBuilder
    where
        T: TryInto<StatusCode>,
        <T as TryInto<StatusCode>>::Error: Into<http::Error>,
    {
        ResponseBuilder { inner: self.inner.status(status) }
    }

    /// The version.
    pub fn version(self, version: Version) -> ResponseBuilder {
        ResponseBuilder { inner: self.inner.version(version) }
    }

    /// Appends a header field.
    pub fn header<K, V>(self, name: K, value: V) -> ResponseBuilder
    where
        K: TryInto<header::HeaderName>,
        <K as TryInto<header::HeaderName>>::Error: Into<http::Error>,
        V: TryInto<HeaderValue>,
        <V as TryInto<HeaderValue>>::Error: Into<http::Error>,
    {
        ResponseBuilder { inner: self.inner.header(name, value) }
    }

    /// Adds an extension.
    pub fn extension<T: Clone + Send + Sync + 'static>(self, value: T) -> ResponseBuilder {
        ResponseBuilder { inner: self.inner.extension(value) }
    }

    /// The response, with `body`; the first invalid part given is the error.
    pub fn body(self, body: impl Into<ResponseBody>) -> http::Result<Response> {
        self.inner.body(body.into()).map(Response::from)
    }
}

#[cfg(test)]
mod tests;
