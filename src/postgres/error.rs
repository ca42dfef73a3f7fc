//! The Postgres client's error: what failed, where, and the server's reason.

use std::error::Error as _;
use std::fmt;
use std::io;

use tokio_postgres::error::{DbError, SqlState};

/// Why a Postgres call failed. `Display` gives one line with the server
/// and the reason, e.g. `Postgres at 127.0.0.1:5432: db error: FATAL:
/// terminating connection due to administrator command`.
pub struct Error {
    kind: Kind,
    context: Option<Box<str>>,
}

enum Kind {
    Io(io::Error),
    Postgres(tokio_postgres::Error),
}

impl Error {
    /// Prefixes the message with where or what (the server, the operation).
    pub(crate) fn context(mut self, context: &str) -> Error {
        self.context = Some(match self.context.take() {
            Some(inner) => format!("{context}: {inner}").into(),
            None => context.into(),
        });
        self
    }

    /// The server's error report (SQLSTATE, message, detail, hint), if the
    /// server sent one.
    pub fn as_db_error(&self) -> Option<&DbError> {
        match &self.kind {
            Kind::Postgres(e) => e.as_db_error(),
            Kind::Io(_) => None,
        }
    }

    /// The server's SQLSTATE code, if it sent one (e.g. [`SqlState::UNIQUE_VIOLATION`]).
    pub fn code(&self) -> Option<&SqlState> {
        self.as_db_error().map(|e| e.code())
    }

    /// Whether the connection is unusable from now on (closed, reset, or
    /// never made): a pool discards such a connection.
    pub fn is_closed(&self) -> bool {
        match &self.kind {
            Kind::Io(_) => true,
            Kind::Postgres(e) => {
                e.is_closed()
                    || e.as_db_error().is_some_and(|d| d.severity() == "FATAL" || d.severity() == "PANIC")
                    || e.source().is_some_and(|s| s.is::<io::Error>())
            }
        }
    }

    /// Whether a wait ran out of time (connecting, or a `timeout` around a call).
    pub fn is_timeout(&self) -> bool {
        matches!(&self.kind, Kind::Io(e) if e.kind() == io::ErrorKind::TimedOut)
    }

    /// The driver's error underneath, if any.
    pub fn as_postgres(&self) -> Option<&tokio_postgres::Error> {
        match &self.kind {
            Kind::Postgres(e) => Some(e),
            Kind::Io(_) => None,
        }
    }
}

impl From<tokio_postgres::Error> for Error {
    fn from(e: tokio_postgres::Error) -> Error {
        Error { kind: Kind::Postgres(e), context: None }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Error {
        Error { kind: Kind::Io(e), context: None }
    }
}

impl From<Error> for io::Error {
    /// For code that speaks `io::Result`: the kind says whether the
    /// connection broke (`ConnectionAborted`) or a query failed (`Other`).
    fn from(e: Error) -> io::Error {
        let kind = match &e.kind {
            Kind::Io(io) => io.kind(),
            Kind::Postgres(_) if e.is_closed() => io::ErrorKind::ConnectionAborted,
            Kind::Postgres(_) => io::ErrorKind::Other,
        };
        io::Error::new(kind, e.to_string())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(c) = &self.context {
            write!(f, "{c}: ")?;
        }
        match &self.kind {
            Kind::Io(e) => write!(f, "{e}"),
            Kind::Postgres(e) => {
                // tokio-postgres' own text is only the category ("db error");
                // the reason is in its source.
                write!(f, "{e}")?;
                match e.source() {
                    Some(s) => write!(f, ": {s}"),
                    None => Ok(()),
                }
            }
        }
    }
}

/// So a handler returning `Result<_, (StatusCode, String)>` can use `?` on a query: `502 Bad Gateway` if the
/// connection was lost, else `500`. The body gives only the SQLSTATE code;
/// the whole message (which may show data or internal hosts) goes to the log.
impl From<Error> for (crate::http::StatusCode, String) {
    fn from(e: Error) -> (crate::http::StatusCode, String) {
        use crate::http::StatusCode;
        log::warn!("{e}");
        let status = if e.is_closed() { StatusCode::BAD_GATEWAY } else { StatusCode::INTERNAL_SERVER_ERROR };
        let body = match e.code() {
            Some(code) => format!("database error (SQLSTATE {})\n", code.code()),
            None if e.is_closed() => "database connection lost\n".to_owned(),
            None => "database error\n".to_owned(),
        };
        (status, body.to_owned())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "postgres::Error({self})")
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            Kind::Io(e) => Some(e),
            Kind::Postgres(e) => Some(e),
        }
    }
}
