//! [`Builder`]: a client's timeouts, pool sizes and limits.

use std::rc::Rc;
use std::time::Duration;

use super::pool::{Pool, PoolConfig};
use super::{Client, Config, Inner};

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
pub struct Builder {
    config: Config,
    pool: PoolConfig,
    #[cfg(feature = "tls")]
    extra_roots: Vec<rustls::pki_types::CertificateDer<'static>>,
}

impl Default for Builder {
    fn default() -> Self {
        Builder::new()
    }
}

impl Builder {
    /// The defaults: connect timeout 10 s, request timeout 30 s, 32 idle
    /// connections per host kept for 90 s, response heads up to 64 KiB with
    /// up to 100 fields, no limit on streamed response bodies.
    ///
    /// ```
    /// let client = greenloop::http::client::Builder::new().build();
    /// # drop(client);
    /// ```
    pub fn new() -> Builder {
        Builder {
            config: Config {
                connect_timeout: Duration::from_secs(10),
                timeout: Duration::from_secs(30),
                max_response_head: 64 * 1024,
                max_response_headers: 100,
                max_response_body: u64::MAX,
                nodelay: true,
            },
            pool: PoolConfig { max_idle_per_host: 32, idle_timeout: Duration::from_secs(90) },
            #[cfg(feature = "tls")]
            extra_roots: Vec::new(),
        }
    }

    /// How long establishing a TCP connection may take (default 10 s), per
    /// address tried. Also bounded by the request's own timeout.
    ///
    /// ```
    /// let b = greenloop::http::Client::builder().connect_timeout(std::time::Duration::from_secs(1));
    /// # drop(b);
    /// ```
    pub fn connect_timeout(mut self, timeout: Duration) -> Builder {
        self.config.connect_timeout = timeout;
        self
    }

    /// How long a whole request may take (default 30 s): from `send` until
    /// the last byte of the response body is read. Override it per request
    /// with [`RequestBuilder::timeout`](super::RequestBuilder::timeout).
    ///
    /// ```
    /// let b = greenloop::http::Client::builder().timeout(std::time::Duration::from_secs(5));
    /// # drop(b);
    /// ```
    pub fn timeout(mut self, timeout: Duration) -> Builder {
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
    pub fn max_idle_per_host(mut self, n: usize) -> Builder {
        self.pool.max_idle_per_host = n;
        self
    }

    /// How long an idle connection stays in the pool (default 90 s).
    ///
    /// ```
    /// let b = greenloop::http::Client::builder().idle_timeout(std::time::Duration::from_secs(15));
    /// # drop(b);
    /// ```
    pub fn idle_timeout(mut self, timeout: Duration) -> Builder {
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
    pub fn max_response_head(mut self, bytes: usize) -> Builder {
        self.config.max_response_head = bytes.max(64);
        self
    }

    /// Most header fields accepted in a response (default 100).
    ///
    /// ```
    /// let b = greenloop::http::Client::builder().max_response_headers(50);
    /// # drop(b);
    /// ```
    pub fn max_response_headers(mut self, n: usize) -> Builder {
        self.config.max_response_headers = n.max(1);
        self
    }

    /// Largest response body accepted at all, even when streamed (default:
    /// no limit). A `Content-Length` over it fails in `send`; chunks adding
    /// up to more fail the read that crosses it. [`ClientResponse::bytes`](super::ClientResponse::bytes)
    /// takes its own, usually smaller, limit.
    ///
    /// ```
    /// let b = greenloop::http::Client::builder().max_response_body(100 << 20);
    /// # drop(b);
    /// ```
    pub fn max_response_body(mut self, bytes: u64) -> Builder {
        self.config.max_response_body = bytes;
        self
    }

    /// Sets `TCP_NODELAY` on new connections (default true).
    ///
    /// ```
    /// let b = greenloop::http::Client::builder().nodelay(false);
    /// # drop(b);
    /// ```
    pub fn nodelay(mut self, on: bool) -> Builder {
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
        Client {
            inner: Rc::new(Inner {
                config: self.config,
                pool: Rc::new(Pool::new(self.pool)),
                #[cfg(feature = "tls")]
                extra_roots: self.extra_roots,
                #[cfg(feature = "tls")]
                tls: std::cell::OnceCell::new(),
            }),
        }
    }

    /// Trusts the CA certificates in `pem` (PEM text, one or more
    /// `-----BEGIN CERTIFICATE-----` blocks) for `https://`, besides the
    /// built-in Mozilla roots: for services with certificates from a private
    /// CA. An error if `pem` holds no usable certificate. (There is no way to
    /// turn verification off: trust the CA that signed the server's
    /// certificate instead.)
    ///
    /// ```no_run
    /// let pem = std::fs::read("ca.pem").unwrap();
    /// let client = greenloop::http::Client::builder().add_root_certificate(&pem).unwrap().build();
    /// # drop(client);
    /// ```
    #[cfg(feature = "tls")]
    pub fn add_root_certificate(mut self, pem: &[u8]) -> std::io::Result<Builder> {
        let certs = crate::http::tls::parse_certs(pem)?;
        let mut check = rustls::RootCertStore::empty();
        for cert in &certs {
            check.add(cert.clone()).map_err(|e| {
                std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("unusable root certificate: {e}"))
            })?;
        }
        self.extra_roots.extend(certs);
        Ok(self)
    }
}
