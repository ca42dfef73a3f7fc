//! [`BodyError`]: a request-body error that carries the status to answer with.

use std::borrow::Cow;
use std::fmt;
use std::io;

use http::StatusCode;

/// A request-body error that knows the status to answer with, carried inside
/// an `io::Error` (kind `InvalidData`) so `IntoResponse for io::Error` picks
/// the right status instead of guessing from the message.
#[derive(Debug)]
pub(crate) struct BodyError {
    pub(crate) status: StatusCode,
    reason: Cow<'static, str>,
}

impl BodyError {
    /// An `io::Error` carrying this status and reason.
    pub(crate) fn io(status: StatusCode, reason: Cow<'static, str>) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, BodyError { status, reason })
    }
}

impl fmt::Display for BodyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}

impl std::error::Error for BodyError {}
