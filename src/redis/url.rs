//! Where to connect and how to log in, parsed from a `redis://` or
//! `redis+unix://` URL.

use std::fmt;

use super::error::{Error, ErrorKind};

/// Where to connect and how to log in, parsed from a URL. Its `Debug`
/// hides the password.
#[derive(Clone, PartialEq, Eq)]
pub struct ConnectionInfo {
    /// `host:port`, or a Unix socket path.
    pub addr: Addr,
    /// `AUTH` user (Redis 6 ACL), if any.
    pub user: Option<String>,
    /// `AUTH` password, if any.
    pub password: Option<String>,
    /// Database to `SELECT` (0 by default).
    pub db: i64,
}

/// A Redis server's address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Addr {
    /// A TCP host and port.
    Tcp(String, u16),
    /// A Unix socket path.
    Unix(std::path::PathBuf),
}

impl fmt::Display for Addr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Addr::Tcp(h, p) => write!(f, "{h}:{p}"),
            Addr::Unix(p) => write!(f, "{}", p.display()),
        }
    }
}

impl fmt::Debug for ConnectionInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectionInfo")
            .field("addr", &self.addr)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<hidden>"))
            .field("db", &self.db)
            .finish()
    }
}

impl ConnectionInfo {
    /// Parses `redis://[[user]:password@]host[:port][/db]` or
    /// `redis+unix:///path/to/socket[?db=N]` (also `unix:///path`).
    pub fn parse(url: &str) -> Result<ConnectionInfo, Error> {
        let bad = |why: &str| Error::new(ErrorKind::InvalidUrl, format!("invalid Redis URL {url:?}: {why}"));
        if let Some(rest) = url.strip_prefix("redis+unix://").or_else(|| url.strip_prefix("unix://")) {
            let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
            if path.is_empty() {
                return Err(bad("no socket path"));
            }
            let mut db = 0;
            for kv in query.split('&').filter(|s| !s.is_empty()) {
                match kv.split_once('=') {
                    Some(("db", n)) => db = n.parse().map_err(|_| bad("db must be a number"))?,
                    _ => return Err(bad(&format!("unknown parameter {kv:?}"))),
                }
            }
            return Ok(ConnectionInfo { addr: Addr::Unix(path.into()), user: None, password: None, db });
        }
        let rest = url.strip_prefix("redis://").ok_or_else(|| bad("expected redis:// or redis+unix://"))?;
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (auth, hostport) = match authority.rsplit_once('@') {
            Some((a, h)) => (Some(a), h),
            None => (None, authority),
        };
        let (user, password) = match auth {
            None => (None, None),
            Some(a) => match a.split_once(':') {
                Some((u, p)) => ((!u.is_empty()).then(|| u.to_owned()), Some(p.to_owned())),
                None => (Some(a.to_owned()), None),
            },
        };
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || hostport.starts_with('[') => {
                (h, p.parse::<u16>().map_err(|_| bad("port must be a number from 1 to 65535"))?)
            }
            _ => (hostport, 6379),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let db = match path.trim_end_matches('/') {
            "" => 0,
            n => n.parse().map_err(|_| bad("the path must be a database number"))?,
        };
        Ok(ConnectionInfo { addr: Addr::Tcp(host.to_owned(), port), user, password, db })
    }
}
