//! [`Target`]: an `http://` (or, with the `tls` feature, `https://`) URL parsed into what a request needs.

use std::io;
use std::net::IpAddr;

use http::Uri;
use http::uri::{Authority, PathAndQuery, Scheme};

use super::pool::PoolKey;

/// A parsed `http://` or `https://` URL.
pub(super) struct Target {
    pub(super) key: PoolKey,
    /// For the `Host` field: host, and port if the URL gave one.
    pub(super) authority: Authority,
    pub(super) path: PathAndQuery,
    /// An IP literal, which skips name resolution.
    pub(super) ip: Option<IpAddr>,
    /// The URL as given (without a fragment), for messages.
    pub(super) display: String,
}

impl Target {
    pub(super) fn parse(url: &str) -> io::Result<Target> {
        let url = url.trim();
        let url = url.split_once('#').map_or(url, |(u, _)| u);
        let uri: Uri = url.parse().map_err(|e| invalid_input(format!("invalid URL: {e}")))?;
        let tls = match uri.scheme() {
            Some(s) if *s == Scheme::HTTP => false,
            #[cfg(feature = "tls")]
            Some(s) if *s == Scheme::HTTPS => true,
            #[cfg(not(feature = "tls"))]
            Some(s) if *s == Scheme::HTTPS => {
                return Err(invalid_input(
                    "https:// needs greenloop's `tls` cargo feature (this build has it off)".to_owned(),
                ));
            }
            Some(s) => {
                return Err(invalid_input(format!(
                    "unsupported URL scheme {:?} (only http:// and https://)",
                    s.as_str()
                )));
            }
            None => return Err(invalid_input("URL has no scheme (expected http://host/...)".to_owned())),
        };
        let auth = uri.authority().ok_or_else(|| invalid_input("URL has no host".to_owned()))?;
        let host = auth.host();
        if host.is_empty() {
            return Err(invalid_input("URL has no host".to_owned()));
        }
        let port = auth.port_u16().unwrap_or(if tls { 443 } else { 80 });
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
            key: PoolKey { host: bare.to_ascii_lowercase(), port, tls },
            authority,
            path,
            ip,
            display: url.to_owned(),
        })
    }
}

/// An `InvalidInput` error with `msg`.
pub(super) fn invalid_input(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}
