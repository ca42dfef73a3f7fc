//! Why a Redis call failed, and how that becomes an I/O error or an HTTP status.

use std::fmt;
use std::io;

/// Why a Redis call failed.
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

/// What kind of failure an [`Error`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Connecting, reading or writing failed (the connection is unusable).
    Io,
    /// The server answered with an error reply (`ERR ...`, `WRONGTYPE ...`).
    Server,
    /// The server sent bytes that are not RESP2 (the connection is unusable).
    Protocol,
    /// The reply did not convert to the type asked for.
    Type,
    /// The URL is not a Redis URL.
    InvalidUrl,
}

impl Error {
    pub(super) fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error { kind, message: message.into() }
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// Whether the connection cannot be used any more.
    pub fn is_connection_broken(&self) -> bool {
        matches!(self.kind, ErrorKind::Io | ErrorKind::Protocol)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        let kind = match e.kind {
            ErrorKind::Io => io::ErrorKind::ConnectionAborted,
            ErrorKind::InvalidUrl => io::ErrorKind::InvalidInput,
            _ => io::ErrorKind::Other,
        };
        io::Error::new(kind, e.message)
    }
}

/// So a handler returning `Result<_, (StatusCode, String)>` can use `?` on a Redis call: `502 Bad Gateway` if the
/// connection failed, else `500`; the message goes to the log.
impl From<Error> for (crate::http::StatusCode, String) {
    fn from(e: Error) -> (crate::http::StatusCode, String) {
        use crate::http::StatusCode;
        log::warn!("{e}");
        let (status, body) = match e.kind {
            ErrorKind::Io | ErrorKind::Protocol => (StatusCode::BAD_GATEWAY, "cache connection failed\n"),
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "cache error\n"),
        };
        (status, body.to_owned())
    }
}
