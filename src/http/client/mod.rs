//! A blocking-style HTTP/1.1 client on green sockets, with a keep-alive pool.
//!
//! Calls look sequential; on a green thread every wait (connecting, writing,
//! waiting for the response, reading the body) parks only the caller, so a
//! handler can call other services one by one, or many at once with
//! [`join_all`](crate::join_all):
//!
//! ```no_run
//! use greenloop::http::client::default_client;
//!
//! greenloop::run(|| {
//!     let client = default_client();
//!     let urls = ["http://127.0.0.1:8000/a", "http://127.0.0.1:8000/b"];
//!     let bodies = greenloop::join_all(urls.map(|url| {
//!         let client = client.clone();
//!         move || client.get(url).send()?.text(1 << 20)
//!     }));
//!     for body in bodies {
//!         println!("{}", body.unwrap());
//!     }
//! });
//! ```
//!
//! What it does:
//! - `http://` URLs only (`https://` fails with `InvalidInput`); host names
//!   resolve through [`net::resolve`](crate::net::resolve) (off the loop),
//!   IP literals skip it;
//! - response bodies framed by `Content-Length`, chunked, or the end of the
//!   connection, parsed by the same [`codec`](crate::http::codec) as the
//!   server's; `1xx` interim responses are skipped;
//! - one keep-alive pool per [`Client`], keyed by host and port. A
//!   connection is reused only after its response body was read to the end
//!   and the server allowed it. An idle connection the server has closed is
//!   noticed before use; if a request on a reused connection still fails
//!   before any response byte arrives, an idempotent request (GET, HEAD,
//!   PUT, DELETE, OPTIONS, TRACE) is retried once on a new connection;
//! - redirects are not followed: a `3xx` is returned as is.
//!
//! A `Client` is loop-local (`Rc` inside; cheap to clone, not `Send`):
//! create one per worker, e.g. with
//! [`Server::worker_state`](crate::http::Server::worker_state), or use
//! [`default_client`], one per OS thread (= per loop).
//!
//! Requests must be sent from a green thread (inside [`run`](crate::run), a
//! spawned green thread, or a handler): green sockets park, and only a
//! green thread can park. `send` panics with a clear message elsewhere.

mod pool;
mod response;

pub use response::ClientResponse;

use std::cell::OnceCell;
use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::time::{Duration, Instant};

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{Method, Uri};

use self::pool::{Conn, Pool, PoolConfig, PoolKey};
use self::response::{BodyParts, Framing};
use crate::http::codec::{self, BodyFraming, OutgoingBody};
use crate::net::TcpStream;

/// The `User-Agent` sent unless the request sets one.
const USER_AGENT: &str = concat!("greenloop/", env!("CARGO_PKG_VERSION"));

/// Request bodies up to this size are written in one piece with the head.
const COALESCE_BODY: usize = 64 * 1024;

/// A loop-local HTTP/1.1 client with a keep-alive connection pool.
///
/// Cloning is cheap and clones share the pool. Not `Send`: its pooled
/// sockets belong to the loop of the thread that made them.
///
/// ```no_run
/// use greenloop::http::Client;
///
/// greenloop::run(|| {
///     let client = Client::new();
///     let res = client.get("http://127.0.0.1:8000/hello?name=loop").send().unwrap();
///     assert!(res.status().is_success());
///     println!("{}", res.text(64 * 1024).unwrap());
/// });
/// ```
///
/// One per server worker, shared by that worker's handlers:
///
/// ```no_run
/// use greenloop::http::{Client, Request, Router, Server, get, worker_state};
///
/// fn call_upstream(_req: Request) -> std::io::Result<String> {
///     let client = worker_state::<Client>().expect("registered below");
///     client.get("http://127.0.0.1:9000/data").send()?.text(1 << 20)
/// }
///
/// Server::bind("127.0.0.1:8000")
///     .worker_state(Client::new)
///     .serve(Router::new().route("/", get(call_upstream)))
///     .unwrap();
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Rc<Inner>,
}

/// What clones of one `Client` share.
struct Inner {
    config: Config,
    pool: Pool,
}

/// Settings from [`ClientBuilder`].
#[derive(Clone, Copy, Debug)]
struct Config {
    connect_timeout: Duration,
    timeout: Duration,
    max_response_head: usize,
    max_response_headers: usize,
    max_response_body: u64,
    nodelay: bool,
}

impl Default for Client {
    fn default() -> Self {
        Client::new()
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.inner.config)
            .field("idle_connections", &self.inner.pool.idle_count())
            .finish()
    }
}

impl Client {
    /// A client with default settings (see [`ClientBuilder`]).
    ///
    /// ```
    /// let client = greenloop::http::Client::new();
    /// # drop(client);
    /// ```
    pub fn new() -> Client {
        Client::builder().build()
    }

    /// A builder to choose timeouts, pool sizes and limits.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let client = greenloop::http::Client::builder()
    ///     .connect_timeout(Duration::from_secs(2))
    ///     .timeout(Duration::from_secs(5))
    ///     .max_idle_per_host(8)
    ///     .build();
    /// # drop(client);
    /// ```
    pub fn builder() -> ClientBuilder {
        ClientBuilder::new()
    }

    /// A `GET` request to `url`.
    ///
    /// ```no_run
    /// # greenloop::run(|| {
    /// let res = greenloop::http::Client::new().get("http://127.0.0.1:8000/items?page=2").send().unwrap();
    /// # drop(res);
    /// # });
    /// ```
    pub fn get(&self, url: impl AsRef<str>) -> RequestBuilder {
        self.request(Method::GET, url)
    }

    /// A `POST` request to `url`.
    ///
    /// ```no_run
    /// # greenloop::run(|| {
    /// let res = greenloop::http::Client::new()
    ///     .post("http://127.0.0.1:8000/echo")
    ///     .header("content-type", "text/plain")
    ///     .body("hello")
    ///     .send()
    ///     .unwrap();
    /// # drop(res);
    /// # });
    /// ```
    pub fn post(&self, url: impl AsRef<str>) -> RequestBuilder {
        self.request(Method::POST, url)
    }

    /// A `PUT` request to `url`.
    ///
    /// ```no_run
    /// # greenloop::run(|| {
    /// let res = greenloop::http::Client::new().put("http://127.0.0.1:8000/items/1").body("x").send().unwrap();
    /// # drop(res);
    /// # });
    /// ```
    pub fn put(&self, url: impl AsRef<str>) -> RequestBuilder {
        self.request(Method::PUT, url)
    }

    /// A `DELETE` request to `url`.
    ///
    /// ```no_run
    /// # greenloop::run(|| {
    /// let res = greenloop::http::Client::new().delete("http://127.0.0.1:8000/items/1").send().unwrap();
    /// # drop(res);
    /// # });
    /// ```
    pub fn delete(&self, url: impl AsRef<str>) -> RequestBuilder {
        self.request(Method::DELETE, url)
    }

    /// A `HEAD` request to `url` (the response has no body).
    ///
    /// ```no_run
    /// # greenloop::run(|| {
    /// let res = greenloop::http::Client::new().head("http://127.0.0.1:8000/").send().unwrap();
    /// # drop(res);
    /// # });
    /// ```
    pub fn head(&self, url: impl AsRef<str>) -> RequestBuilder {
        self.request(Method::HEAD, url)
    }

    /// A request with any method to `url`. The URL is checked by
    /// [`send`](RequestBuilder::send), which reports a bad one.
    ///
    /// ```no_run
    /// use greenloop::http::{Client, Method};
    /// # greenloop::run(|| {
    /// let res = Client::new().request(Method::OPTIONS, "http://127.0.0.1:8000/").send().unwrap();
    /// # drop(res);
    /// # });
    /// ```
    pub fn request(&self, method: Method, url: impl AsRef<str>) -> RequestBuilder {
        RequestBuilder {
            client: self.clone(),
            method,
            url: url.as_ref().to_owned(),
            headers: HeaderMap::new(),
            body: Vec::new(),
            timeout: None,
            error: None,
        }
    }

    /// Idle connections in this client's pool right now (all hosts).
    ///
    /// ```
    /// assert_eq!(greenloop::http::Client::new().idle_connections(), 0);
    /// ```
    pub fn idle_connections(&self) -> usize {
        self.inner.pool.idle_count()
    }
}

/// This OS thread's shared [`Client`] (created on first use, with default
/// settings). On a server, that is one client per worker loop, so its pool
/// is shared by every handler on that worker.
///
/// ```no_run
/// use greenloop::http::{Request, client::default_client};
///
/// fn proxy(_req: Request) -> std::io::Result<String> {
///     default_client().get("http://127.0.0.1:9000/upstream").send()?.text(1 << 20)
/// }
/// # let _ = proxy;
/// ```
pub fn default_client() -> Client {
    thread_local! {
        static DEFAULT: OnceCell<Client> = const { OnceCell::new() };
    }
    DEFAULT.with(|c| c.get_or_init(Client::new).clone())
}

/// Settings for a [`Client`]; from [`Client::builder`].
///
/// ```
/// use std::time::Duration;
///
/// let client = greenloop::http::Client::builder()
///     .timeout(Duration::from_secs(3))
///     .idle_timeout(Duration::from_secs(30))
///     .max_response_head(32 * 1024)
///     .build();
/// # drop(client);
/// ```
#[derive(Clone, Debug)]
pub struct ClientBuilder {
    config: Config,
    pool: PoolConfig,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        ClientBuilder::new()
    }
}

impl ClientBuilder {
    /// The defaults: connect timeout 10 s, request timeout 30 s, 32 idle
    /// connections per host kept for 90 s, response heads up to 64 KiB with
    /// up to 100 fields, no limit on streamed response bodies.
    ///
    /// ```
    /// let client = greenloop::http::client::ClientBuilder::new().build();
    /// # drop(client);
    /// ```
    pub fn new() -> ClientBuilder {
        ClientBuilder {
            config: Config {
                connect_timeout: Duration::from_secs(10),
                timeout: Duration::from_secs(30),
                max_response_head: 64 * 1024,
                max_response_headers: 100,
                max_response_body: u64::MAX,
                nodelay: true,
            },
            pool: PoolConfig { max_idle_per_host: 32, idle_timeout: Duration::from_secs(90) },
        }
    }

    /// How long establishing a TCP connection may take (default 10 s), per
    /// address tried. Also bounded by the request's own timeout.
    ///
    /// ```
    /// let b = greenloop::http::Client::builder().connect_timeout(std::time::Duration::from_secs(1));
    /// # drop(b);
    /// ```
    pub fn connect_timeout(mut self, timeout: Duration) -> ClientBuilder {
        self.config.connect_timeout = timeout;
        self
    }

    /// How long a whole request may take (default 30 s): from `send` until
    /// the last byte of the response body is read. Override it per request
    /// with [`RequestBuilder::timeout`].
    ///
    /// ```
    /// let b = greenloop::http::Client::builder().timeout(std::time::Duration::from_secs(5));
    /// # drop(b);
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> ClientBuilder {
        self.config.timeout = timeout;
        self
    }

    /// Most idle keep-alive connections kept per host and port (default
    /// 32); 0 disables pooling.
    ///
    /// ```
    /// let b = greenloop::http::Client::builder().max_idle_per_host(4);
    /// # drop(b);
    /// ```
    pub fn max_idle_per_host(mut self, n: usize) -> ClientBuilder {
        self.pool.max_idle_per_host = n;
        self
    }

    /// How long an idle connection stays in the pool (default 90 s).
    ///
    /// ```
    /// let b = greenloop::http::Client::builder().idle_timeout(std::time::Duration::from_secs(15));
    /// # drop(b);
    /// ```
    pub fn idle_timeout(mut self, timeout: Duration) -> ClientBuilder {
        self.pool.idle_timeout = timeout;
        self
    }

    /// Largest response head (status line and header fields) accepted, in
    /// bytes (default 64 KiB). A larger one fails with `InvalidData`.
    ///
    /// ```
    /// let b = greenloop::http::Client::builder().max_response_head(16 * 1024);
    /// # drop(b);
    /// ```
    pub fn max_response_head(mut self, bytes: usize) -> ClientBuilder {
        self.config.max_response_head = bytes.max(64);
        self
    }

    /// Most header fields accepted in a response (default 100).
    ///
    /// ```
    /// let b = greenloop::http::Client::builder().max_response_headers(50);
    /// # drop(b);
    /// ```
    pub fn max_response_headers(mut self, n: usize) -> ClientBuilder {
        self.config.max_response_headers = n.max(1);
        self
    }

    /// Largest response body accepted at all, even when streamed (default:
    /// no limit). A `Content-Length` over it fails in `send`; chunks adding
    /// up to more fail the read that crosses it. [`ClientResponse::bytes`]
    /// takes its own, usually smaller, limit.
    ///
    /// ```
    /// let b = greenloop::http::Client::builder().max_response_body(100 << 20);
    /// # drop(b);
    /// ```
    pub fn max_response_body(mut self, bytes: u64) -> ClientBuilder {
        self.config.max_response_body = bytes;
        self
    }

    /// Sets `TCP_NODELAY` on new connections (default true).
    ///
    /// ```
    /// let b = greenloop::http::Client::builder().nodelay(false);
    /// # drop(b);
    /// ```
    pub fn nodelay(mut self, on: bool) -> ClientBuilder {
        self.config.nodelay = on;
        self
    }

    /// The client.
    ///
    /// ```
    /// let client = greenloop::http::Client::builder().build();
    /// # drop(client);
    /// ```
    pub fn build(self) -> Client {
        Client { inner: Rc::new(Inner { config: self.config, pool: Pool::new(self.pool) }) }
    }
}

/// A request being built; from [`Client::get`], [`Client::post`] or
/// [`Client::request`]. Errors in the URL, a header or the JSON body are
/// reported by [`send`](Self::send).
///
/// ```no_run
/// use std::time::Duration;
/// use greenloop::http::Client;
///
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
                self.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
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
        let RequestBuilder { client, method, url, mut headers, body, timeout, error } = self;
        if let Some(e) = error {
            return Err(io::Error::new(e.kind(), format!("{e} ({method} {url})")));
        }
        let target = Target::parse(&url).map_err(|e| io::Error::new(e.kind(), format!("{e} ({method} {url})")))?;
        let what: Rc<str> = format!("{method} {}", target.display).into();
        let config = client.inner.config;
        let timeout = timeout.unwrap_or(config.timeout);
        let deadline = Instant::now().checked_add(timeout).unwrap_or_else(far_future);

        if !headers.contains_key(header::USER_AGENT) {
            headers.insert(header::USER_AGENT, HeaderValue::from_static(USER_AGENT));
        }
        let client_close = connection_close(&headers);
        let outgoing = if body.is_empty() { OutgoingBody::Empty } else { OutgoingBody::Length(body.len() as u64) };
        let mut wire = Vec::with_capacity(256 + if body.len() <= COALESCE_BODY { body.len() } else { 0 });
        codec::write_request_head(&method, &target.path, Some(&target.authority), &headers, outgoing, &mut wire);
        let head_len = wire.len();
        if body.len() <= COALESCE_BODY {
            wire.extend_from_slice(&body);
        }
        let exchange = Exchange {
            client: &client,
            method: &method,
            target: &target,
            wire: &wire,
            body: if wire.len() > head_len { &[] } else { &body },
            deadline,
            timeout,
            what: &what,
        };

        let idempotent = matches!(
            method,
            Method::GET | Method::HEAD | Method::PUT | Method::DELETE | Method::OPTIONS | Method::TRACE
        );
        let mut conn = client.inner.pool.take(&target.key);
        loop {
            let reused = conn.is_some();
            let c = match conn.take() {
                Some(c) => c,
                None => exchange.connect()?,
            };
            match exchange.run(c, client_close) {
                Ok(res) => return Ok(res),
                Err(Failure::Lost(e)) if reused && idempotent => {
                    // The server closed an idle connection as we reused it:
                    // no response byte came, so the request was not
                    // processed. Try once more on a fresh connection.
                    log::debug!("{what}: reused connection lost before the response ({e}); retrying");
                    continue;
                }
                Err(Failure::Lost(e)) => return Err(exchange.lost(e, reused)),
                Err(Failure::Fatal(e)) => return Err(e),
            }
        }
    }
}

/// Why an exchange on one connection failed.
enum Failure {
    /// The connection died before any byte of the response arrived (EOF,
    /// reset, broken pipe): the request may be retried if it is idempotent
    /// and the connection was a reused one.
    Lost(io::Error),
    /// Anything else, with its context already added.
    Fatal(io::Error),
}

/// A parsed `http://` URL.
struct Target {
    key: PoolKey,
    /// For the `Host` field: host, and port if the URL gave one.
    authority: Authority,
    path: PathAndQuery,
    /// An IP literal, which skips name resolution.
    ip: Option<IpAddr>,
    /// The URL as given (without a fragment), for messages.
    display: String,
}

impl Target {
    fn parse(url: &str) -> io::Result<Target> {
        let url = url.trim();
        let url = url.split_once('#').map_or(url, |(u, _)| u);
        let uri: Uri = url.parse().map_err(|e| invalid_input(format!("invalid URL: {e}")))?;
        match uri.scheme() {
            Some(s) if *s == Scheme::HTTP => {}
            Some(s) if *s == Scheme::HTTPS => {
                return Err(invalid_input("https is not supported by greenloop's client".to_owned()));
            }
            Some(s) => return Err(invalid_input(format!("unsupported URL scheme {:?} (only http://)", s.as_str()))),
            None => return Err(invalid_input("URL has no scheme (expected http://host/...)".to_owned())),
        }
        let auth = uri.authority().ok_or_else(|| invalid_input("URL has no host".to_owned()))?;
        let host = auth.host();
        if host.is_empty() {
            return Err(invalid_input("URL has no host".to_owned()));
        }
        let port = auth.port_u16().unwrap_or(80);
        // Without any user-info (never sent in `Host`).
        let authority: Authority = match auth.port() {
            Some(p) => format!("{host}:{}", p.as_str()).parse(),
            None => host.parse(),
        }
        .map_err(|e| invalid_input(format!("invalid URL host: {e}")))?;
        let bare = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
        let ip = bare.parse::<IpAddr>().ok();
        let path = uri.path_and_query().cloned().unwrap_or_else(|| PathAndQuery::from_static("/"));
        Ok(Target {
            key: PoolKey { host: bare.to_ascii_lowercase(), port },
            authority,
            path,
            ip,
            display: url.to_owned(),
        })
    }
}

/// One request's fixed parts, shared by its attempts.
struct Exchange<'a> {
    client: &'a Client,
    method: &'a Method,
    target: &'a Target,
    /// The head, and the body too when it is small.
    wire: &'a [u8],
    /// The body when it is written after `wire`.
    body: &'a [u8],
    deadline: Instant,
    timeout: Duration,
    what: &'a str,
}

impl Exchange<'_> {
    /// Resolves the host (unless it is an IP literal) and connects to the
    /// first address that accepts.
    fn connect(&self) -> io::Result<Conn> {
        let key = &self.target.key;
        let addrs = match self.target.ip {
            Some(ip) => vec![SocketAddr::new(ip, key.port)],
            None => crate::net::resolve(&format!("{}:{}", key.host, key.port))
                .map_err(|e| io::Error::new(e.kind(), format!("{e} ({})", self.what)))?,
        };
        let config = &self.client.inner.config;
        let mut last = None;
        for addr in addrs {
            let left = self.deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(self.request_timed_out("connecting"));
            }
            let limit = config.connect_timeout.min(left);
            match TcpStream::connect_timeout(&addr, limit) {
                Ok(stream) => {
                    if config.nodelay {
                        let _ = stream.set_nodelay(true);
                    }
                    return Ok(Conn::new(stream));
                }
                Err(e) => last = Some(self.connect_error(e, addr, limit)),
            }
        }
        Err(last.unwrap_or_else(|| {
            io::Error::new(io::ErrorKind::NotFound, format!("{} resolved to no addresses ({})", key.host, self.what))
        }))
    }

    fn connect_error(&self, e: io::Error, addr: SocketAddr, limit: Duration) -> io::Error {
        let what = self.what;
        match e.kind() {
            io::ErrorKind::TimedOut if limit < self.client.inner.config.connect_timeout => {
                self.request_timed_out(&format!("connecting to {addr}"))
            }
            io::ErrorKind::TimedOut => {
                io::Error::new(io::ErrorKind::TimedOut, format!("connect to {addr} timed out after {limit:?} ({what})"))
            }
            io::ErrorKind::ConnectionRefused => {
                io::Error::new(io::ErrorKind::ConnectionRefused, format!("connection refused by {addr} ({what})"))
            }
            kind => io::Error::new(kind, format!("cannot connect to {addr}: {e} ({what})")),
        }
    }

    fn request_timed_out(&self, during: &str) -> io::Error {
        io::Error::new(
            io::ErrorKind::TimedOut,
            format!("request timed out after {:?} while {during} ({})", self.timeout, self.what),
        )
    }

    /// Writes the request on `conn` and reads the response head.
    fn run(&self, mut conn: Conn, client_close: bool) -> Result<ClientResponse, Failure> {
        conn.requests += 1;
        let write = conn.write_all(self.wire, self.deadline).and_then(|()| conn.write_all(self.body, self.deadline));
        if let Err(e) = write {
            return Err(if is_lost(&e) {
                Failure::Lost(e)
            } else {
                Failure::Fatal(self.io_error(e, "sending the request"))
            });
        }
        let config = &self.client.inner.config;
        let limits = codec::CodecLimits {
            max_head_bytes: config.max_response_head,
            max_headers: config.max_response_headers,
            max_request_line: config.max_response_head.min(8 * 1024),
            max_body_bytes: config.max_response_body,
        };
        let mut received = 0usize;
        let head = loop {
            if !conn.buffered().is_empty() {
                match codec::parse_response(conn.buffered(), self.method, &limits) {
                    Ok(Some((head, n))) => {
                        conn.consume(n);
                        let status = head.parts.status;
                        if status.is_informational() && status != http::StatusCode::SWITCHING_PROTOCOLS {
                            continue; // 100 Continue, 103 Early Hints: the final response follows.
                        }
                        break head;
                    }
                    Ok(None) => {}
                    Err(e) => return Err(Failure::Fatal(self.parse_error(e))),
                }
            }
            match conn.fill(self.deadline) {
                Ok(0) if received == 0 => {
                    return Err(Failure::Lost(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "connection closed before any response",
                    )));
                }
                Ok(0) => {
                    return Err(Failure::Fatal(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("malformed response: connection closed in the middle of the head ({})", self.what),
                    )));
                }
                Ok(n) => received += n,
                Err(e) if received == 0 && is_lost(&e) => return Err(Failure::Lost(e)),
                Err(e) => return Err(Failure::Fatal(self.io_error(e, "waiting for the response"))),
            }
        };
        let framing = match head.framing {
            BodyFraming::None => Framing::None,
            BodyFraming::Length(n) => Framing::Length(n),
            BodyFraming::Chunked => Framing::Chunked(config.max_response_body),
            BodyFraming::UntilClose => Framing::UntilClose,
        };
        let reusable = head.keep_alive && !client_close;
        Ok(ClientResponse::new(
            head.parts,
            BodyParts {
                conn,
                framing,
                reusable,
                client: self.client.inner.clone(),
                key: self.target.key.clone(),
                deadline: self.deadline,
                timeout: self.timeout,
                what: self.what.into(),
            },
        ))
    }

    fn parse_error(&self, e: codec::ParseError) -> io::Error {
        let msg = if e.reason == "response body too large" {
            format!(
                "response body too large: Content-Length over max_response_body ({} bytes) ({})",
                self.client.inner.config.max_response_body, self.what
            )
        } else if e.reason.contains("too large") || e.reason.contains("too long") {
            format!(
                "response too large: {} (max_response_head is {} bytes) ({})",
                e.reason, self.client.inner.config.max_response_head, self.what
            )
        } else {
            format!("malformed response: {} ({})", e.reason, self.what)
        };
        io::Error::new(io::ErrorKind::InvalidData, msg)
    }

    fn io_error(&self, e: io::Error, during: &str) -> io::Error {
        if e.kind() == io::ErrorKind::TimedOut {
            self.request_timed_out(during)
        } else {
            io::Error::new(e.kind(), format!("{e} while {during} ({})", self.what))
        }
    }

    /// The error for a connection lost before the response that is not retried.
    fn lost(&self, e: io::Error, reused: bool) -> io::Error {
        let how = match e.kind() {
            io::ErrorKind::UnexpectedEof => "the server closed the connection without responding",
            io::ErrorKind::ConnectionReset => "the server reset the connection without responding",
            _ => "the connection was lost before the response",
        };
        let hint = if reused { ", on a reused keep-alive connection; not retried (not idempotent)" } else { "" };
        io::Error::new(e.kind(), format!("{how} ({e}{hint}) ({})", self.what))
    }
}

/// Errors that mean the peer closed or reset the connection.
fn is_lost(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::UnexpectedEof
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::NotConnected
    )
}

/// Whether the request's own `Connection` field asks to close.
fn connection_close(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .any(|v| v.as_bytes().split(|&b| b == b',').any(|t| t.trim_ascii().eq_ignore_ascii_case(b"close")))
}

fn invalid_input(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86400 * 365 * 30)
}
