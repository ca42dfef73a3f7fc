//! Why a checkout failed, and how that becomes an HTTP status.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// Why [`Pool::get`](crate::pool::Pool::get) gave no connection.
#[derive(Debug)]
pub enum PoolError<E> {
    /// Every connection stayed in use (or opening one took) longer than the acquire timeout.
    Timeout {
        /// The pool's name.
        pool: Arc<str>,
        /// How long the caller waited.
        waited: Duration,
        /// The pool's maximum size.
        max_size: usize,
    },
    /// The caller's [`Cancel`](crate::cancel::Cancel) scope was cancelled
    /// while it waited (a server request whose client went away).
    Cancelled {
        /// The pool's name.
        pool: Arc<str>,
    },
    /// Opening a connection failed.
    Connect {
        /// The pool's name.
        pool: Arc<str>,
        /// The manager's error.
        error: E,
    },
}

impl<E: fmt::Display> fmt::Display for PoolError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PoolError::Timeout { pool, waited, max_size } => write!(
                f,
                "{pool} pool: no connection free after {} ms ({max_size} of {max_size} in use or opening)",
                waited.as_millis()
            ),
            PoolError::Cancelled { pool } => write!(f, "{pool} pool: the wait for a connection was cancelled"),
            PoolError::Connect { pool, error } => write!(f, "{pool} pool: {error}"),
        }
    }
}

impl<E: fmt::Display + fmt::Debug> std::error::Error for PoolError<E> {}

/// So a handler returning `Result<_, (StatusCode, String)>` can use `?` on
/// [`Pool::get`](crate::pool::Pool::get): a `503 Service Unavailable`.
/// The body says the pool was exhausted, or only that no connection could
/// be opened (the manager's error, which may name internal hosts, goes to
/// the log instead).
impl<E: fmt::Display> From<PoolError<E>> for (crate::http::StatusCode, String) {
    fn from(e: PoolError<E>) -> (crate::http::StatusCode, String) {
        let body = match &e {
            PoolError::Timeout { .. } | PoolError::Cancelled { .. } => format!("{e}\n"),
            PoolError::Connect { pool, .. } => {
                log::warn!("{e}");
                format!("{pool} pool: cannot open a connection\n")
            }
        };
        (crate::http::StatusCode::SERVICE_UNAVAILABLE, body)
    }
}
