//! [`IntoResponse`]: what a handler may return, and the conversions of
//! the common return types.

use std::io;

use http::{HeaderValue, StatusCode};

use super::{Response, ResponseBody};
use crate::http::body_error::BodyError;

/// What a handler may return.
pub trait IntoResponse {
    /// Builds the response.
    fn into_response(self) -> Response;
}

/// `Content-Type` of text answers (`&str`, `String`, a status's reason).
pub(crate) static TEXT: HeaderValue = HeaderValue::from_static("text/plain; charset=utf-8");
/// `Content-Type` of byte answers (`Vec<u8>`).
pub(crate) static BINARY: HeaderValue = HeaderValue::from_static("application/octet-stream");

impl IntoResponse for Response {
    fn into_response(self) -> Response {
        self
    }
}
impl IntoResponse for http::Response<ResponseBody> {
    /// An `http` response, as code written for that type builds it.
    fn into_response(self) -> Response {
        self.into()
    }
}
impl IntoResponse for &'static str {
    fn into_response(self) -> Response {
        Response::typed(self.into(), &TEXT)
    }
}
impl IntoResponse for String {
    fn into_response(self) -> Response {
        Response::typed(self.into(), &TEXT)
    }
}
impl IntoResponse for Vec<u8> {
    fn into_response(self) -> Response {
        Response::typed(self.into(), &BINARY)
    }
}
impl IntoResponse for () {
    fn into_response(self) -> Response {
        Response::new(ResponseBody::empty())
    }
}
impl IntoResponse for StatusCode {
    /// The status with its reason phrase as a text body (empty for 204/304).
    fn into_response(self) -> Response {
        let mut r = if self == StatusCode::NO_CONTENT || self == StatusCode::NOT_MODIFIED {
            Response::new(ResponseBody::empty())
        } else {
            Response::typed(self.canonical_reason().unwrap_or("").into(), &TEXT)
        };
        *r.status_mut() = self;
        r
    }
}
impl<T: IntoResponse> IntoResponse for (StatusCode, T) {
    fn into_response(self) -> Response {
        let mut r = self.1.into_response();
        *r.status_mut() = self.0;
        r
    }
}
impl<T: IntoResponse, E: IntoResponse> IntoResponse for Result<T, E> {
    fn into_response(self) -> Response {
        match self {
            Ok(v) => v.into_response(),
            Err(e) => e.into_response(),
        }
    }
}
impl IntoResponse for io::Error {
    /// 500 with the error's message (413 for a body over its limit, 408 for a
    /// timed-out read, 400 for other malformed input).
    fn into_response(self) -> Response {
        // A request-body error knows its status (a chunked body growing over
        // the server's limit says "too large", not "limit": it is a 413 too).
        let known = self.get_ref().and_then(|e| e.downcast_ref::<BodyError>()).map(|e| e.status);
        let status = known.unwrap_or_else(|| match self.kind() {
            io::ErrorKind::InvalidData if self.to_string().contains("limit") => StatusCode::PAYLOAD_TOO_LARGE,
            io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof => StatusCode::BAD_REQUEST,
            io::ErrorKind::TimedOut => StatusCode::REQUEST_TIMEOUT,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        });
        (status, format!("{}: {self}\n", status.canonical_reason().unwrap_or("error"))).into_response()
    }
}
