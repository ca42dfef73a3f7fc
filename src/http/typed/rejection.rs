//! [`Rejection`]: why a request's input was refused, as the 4xx to answer.

use std::borrow::Cow;
use std::fmt;
use std::io;

use http::{HeaderValue, StatusCode, header};

use crate::http::body_error::BodyError;
use crate::http::response::{IntoResponse, Response, ResponseBody};

/// A request's input refused: the status to answer with and a reason a
/// client developer can act on ("invalid JSON at line 1, column 9: ...").
///
/// It is an [`IntoResponse`] (the status, with the reason and a newline as a
/// `text/plain` body) and a [`std::error::Error`], so a handler returning
/// `Result<_, Rejection>` forwards any input failure with `?`, and one
/// returning `Result<_, Box<dyn Error>>` can too.
///
/// ```
/// use greenloop::http::{IntoResponse, Rejection, StatusCode};
/// let r = Rejection::new(StatusCode::UNPROCESSABLE_ENTITY, "name must not be empty");
/// assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
/// assert_eq!(r.into_response().status(), 422);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    status: StatusCode,
    reason: Cow<'static, str>,
}

impl Rejection {
    /// A rejection answering `status` with `reason`. For a handler's own
    /// checks (a field out of range is as much a bad input as a parse error).
    pub fn new(status: StatusCode, reason: impl Into<Cow<'static, str>>) -> Rejection {
        Rejection { status, reason: reason.into() }
    }

    /// 400 Bad Request with `reason`.
    pub fn bad_request(reason: impl Into<Cow<'static, str>>) -> Rejection {
        Rejection::new(StatusCode::BAD_REQUEST, reason)
    }

    /// The status the response will have.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The reason, as the response body says it (without the final newline).
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// A failure to read the request body: the status it carries (413 over
    /// a limit), 408 for a timed-out read, 400 otherwise; `what` names what
    /// was being read ("JSON body").
    pub(crate) fn from_body_error(e: io::Error, what: &str) -> Rejection {
        // A body error says what went wrong in its own words ("request body
        // larger than the 2097152-byte limit").
        if let Some(known) = e.get_ref().and_then(|e| e.downcast_ref::<BodyError>()) {
            return Rejection::new(known.status, known.to_string());
        }
        let status = match e.kind() {
            io::ErrorKind::TimedOut => StatusCode::REQUEST_TIMEOUT,
            _ => StatusCode::BAD_REQUEST,
        };
        Rejection::new(status, format!("could not read the {what}: {e}"))
    }
}

impl From<io::Error> for Rejection {
    /// A request-body read error (a [`Part`](crate::http::multipart::Part)'s
    /// limit, a truncated upload) as the status it carries.
    fn from(e: io::Error) -> Rejection {
        Rejection::from_body_error(e, "request body")
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.status, self.reason)
    }
}

impl std::error::Error for Rejection {}

const TEXT: HeaderValue = HeaderValue::from_static("text/plain; charset=utf-8");

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        let mut body = self.reason.into_owned();
        body.push('\n');
        let mut r = Response::new(ResponseBody::from(body));
        *r.status_mut() = self.status;
        r.headers_mut().insert(header::CONTENT_TYPE, TEXT);
        r
    }
}
