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
//!   resolve through [`net::resolve_timeout`](crate::net::resolve_timeout)
//!   (off the loop, on the lookup threads), within the request's timeout; IP
//!   literals skip it;
//! - response bodies framed by `Content-Length`, chunked, or the end of the
//!   connection, parsed by the same codec as the
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
//! [`Server::with_worker_state`](crate::http::Server::with_worker_state), or use
//! [`default_client`], one per OS thread (= per loop).
//!
//! Requests must be sent from a green thread (inside [`run`](crate::run), a
//! spawned green thread, or a handler): green sockets park, and only a
//! green thread can park. `send` panics with a clear message elsewhere.

//!
//! Where each job lives: [`Client`] and its shared state here;
//! [`Builder`] in `builder.rs`; [`RequestBuilder`] in `request.rs`;
//! URL parsing in `target.rs`; connecting, one request-response exchange and
//! the retry in `exchange.rs`; the keep-alive pool in `pool.rs`;
//! [`ClientResponse`] and its body reader in `response.rs`.

mod builder;
mod exchange;
mod pool;
mod request;
mod response;
mod target;

pub use builder::Builder;

/// The former name of [`Builder`] (each module's builder is its `Builder`:
/// `greenloop::Builder`, `greenloop::pool::Builder`, `http::client::Builder`).
#[deprecated(since = "0.2.0", note = "renamed to `greenloop::http::client::Builder`")]
pub type ClientBuilder = Builder;
pub use request::RequestBuilder;
pub use response::ClientResponse;

use std::cell::OnceCell;
use std::fmt;
use std::rc::Rc;
use std::time::Duration;

use http::Method;

use self::pool::Pool;

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
///     .with_worker_state(Client::new)
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
    /// Root certificates added to Mozilla's for `https://`.
    #[cfg(feature = "tls")]
    extra_roots: Vec<rustls::pki_types::CertificateDer<'static>>,
    /// The TLS configuration, made at the first `https://` request.
    #[cfg(feature = "tls")]
    tls: std::cell::OnceCell<std::sync::Arc<rustls::ClientConfig>>,
    /// Shared with the responses whose connections go back to it.
    pool: Rc<Pool>,
}

/// Settings from [`Builder`].
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
    /// A client with default settings (see [`Builder`]).
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
    pub fn builder() -> Builder {
        Builder::new()
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
        RequestBuilder::new(self.clone(), method, url.as_ref().to_owned())
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
