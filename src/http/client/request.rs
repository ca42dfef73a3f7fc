//! [`RequestBuilder`]: a request's method, URL, headers, body and timeout,
//! checked and sent by [`send`](RequestBuilder::send).

use std::fmt;
use std::io;
use std::time::Duration;

use http::Method;
use http::header::{HeaderMap, HeaderName, HeaderValue};

use super::exchange;
use super::target::invalid_input;
use super::{Client, ClientResponse};

/// A request being built; from [`Client::get`], [`Client::post`] or
/// [`Client::request`]. Errors in the URL, a header or the JSON body are
/// reported by [`send`](Self::send).
///
/// ```no_run
/// use std::time::Duration;
/// use greenloop::http::Client;
///
/// # #[cfg(feature = "json")] // the `json` helpers need the (default) `json` feature
/// greenloop::run(|| {
///     let res = Client::new()
///         .post("http://127.0.0.1:8000/api/items")
///         .header("x-request-id", "42")
///         .json(&serde_json::json!({ "name": "loop" }))
///         .timeout(Duration::from_secs(2))
///         .send()
///         .unwrap();
///     println!("{}", res.json(1 << 20).unwrap());
/// });
/// ```
#[must_use = "a request does nothing until sent"]
pub struct RequestBuilder {
    client: Client,
    method: Method,
    url: String,
    headers: HeaderMap,
    body: Vec<u8>,
    timeout: Option<Duration>,
    error: Option<io::Error>,
}

impl fmt::Debug for RequestBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RequestBuilder")
            .field("method", &self.method)
            .field("url", &self.url)
            .field("headers", &self.headers)
            .field("body_len", &self.body.len())
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl RequestBuilder {
    pub(super) fn new(client: Client, method: Method, url: String) -> RequestBuilder {
        RequestBuilder { client, method, url, headers: HeaderMap::new(), body: Vec::new(), timeout: None, error: None }
    }

    /// Appends a header field. `Host`, `Content-Length` and
    /// `Transfer-Encoding` are set by the client and ignored here.
    ///
    /// ```no_run
    /// # greenloop::run(|| {
    /// let res = greenloop::http::Client::new()
    ///     .get("http://127.0.0.1:8000/")
    ///     .header("accept", "application/json")
    ///     .send();
    /// # drop(res);
    /// # });
    /// ```
    pub fn header<K, V>(mut self, name: K, value: V) -> RequestBuilder
    where
        HeaderName: TryFrom<K>,
        <HeaderName as TryFrom<K>>::Error: Into<http::Error>,
        HeaderValue: TryFrom<V>,
        <HeaderValue as TryFrom<V>>::Error: Into<http::Error>,
    {
        if self.error.is_some() {
            return self;
        }
        match (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            (Ok(n), Ok(v)) => {
                self.headers.append(n, v);
            }
            (Err(e), _) => self.error = Some(invalid_input(format!("invalid header name: {}", e.into()))),
            (_, Err(e)) => self.error = Some(invalid_input(format!("invalid header value: {}", e.into()))),
        }
        self
    }

    /// Sets the request body (sent with `Content-Length`).
    ///
    /// ```no_run
    /// # greenloop::run(|| {
    /// let res = greenloop::http::Client::new().post("http://127.0.0.1:8000/upload").body(vec![0u8; 1024]).send();
    /// # drop(res);
    /// # });
    /// ```
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> RequestBuilder {
        self.body = body.into();
        self
    }

    /// Sets a JSON body and `Content-Type: application/json` (needs the
    /// `json` feature, on by default).
    ///
    /// ```no_run
    /// # greenloop::run(|| {
    /// let res = greenloop::http::Client::new()
    ///     .post("http://127.0.0.1:8000/api")
    ///     .json(&serde_json::json!({ "id": 1 }))
    ///     .send();
    /// # drop(res);
    /// # });
    /// ```
    #[cfg(feature = "json")]
    pub fn json(mut self, value: &serde_json::Value) -> RequestBuilder {
        match serde_json::to_vec(value) {
            Ok(bytes) => {
                self.body = bytes;
                self.headers.insert(http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            }
            Err(e) => {
                if self.error.is_none() {
                    self.error = Some(invalid_input(format!("cannot serialise the JSON body: {e}")));
                }
            }
        }
        self
    }

    /// Sets this request's timeout (instead of the client's), from `send`
    /// until the end of the response body.
    ///
    /// ```no_run
    /// # greenloop::run(|| {
    /// let res = greenloop::http::Client::new()
    ///     .get("http://127.0.0.1:8000/slow")
    ///     .timeout(std::time::Duration::from_millis(500))
    ///     .send();
    /// # drop(res);
    /// # });
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> RequestBuilder {
        self.timeout = Some(timeout);
        self
    }

    /// Sends the request and waits (parks) for the response head; the body
    /// then streams from the returned [`ClientResponse`].
    ///
    /// Errors are `io::Error`s whose message names the request: an invalid
    /// or `https://` URL (`InvalidInput`), a refused connection
    /// (`ConnectionRefused`, naming the address), a connect or request
    /// timeout (`TimedOut`, naming which and the duration), a connection
    /// closed or reset by the server, a malformed or too large response head
    /// (`InvalidData`, saying what was wrong).
    ///
    /// ```no_run
    /// # greenloop::run(|| {
    /// match greenloop::http::Client::new().get("http://127.0.0.1:8000/").send() {
    ///     Ok(res) => println!("{}", res.status()),
    ///     Err(e) => eprintln!("request failed: {e}"),
    /// }
    /// # });
    /// ```
    ///
    /// # Panics
    /// Outside a green thread (green sockets can only park a green thread):
    /// call it inside [`greenloop::run`](crate::run), a spawned green thread
    /// or a handler.
    pub fn send(self) -> io::Result<ClientResponse> {
        assert!(
            crate::park::in_green_thread(),
            "greenloop::http::client: send() must be called on a green thread \
             (inside greenloop::run, a spawned green thread, or a handler)"
        );
        let RequestBuilder { client, method, url, headers, body, timeout, error } = self;
        if let Some(e) = error {
            return Err(io::Error::new(e.kind(), format!("{e} ({method} {url})")));
        }
        exchange::send(&client, method, &url, headers, body, timeout)
    }
}
