//! [`Json`]: a response body serialised with serde, and how a JSON body
//! that failed to parse is told to the client.

use http::{HeaderValue, StatusCode};
use serde::Serialize;

use super::rejection::Rejection;
use crate::http::response::{IntoResponse, Response, ResponseBody};

/// A JSON response: `Json(value)` answers `value` serialised with
/// `serde_json`, as `application/json`. A value that fails to serialise
/// (a map with non-string keys) is a 500 naming the error.
///
/// ```
/// use greenloop::http::{IntoResponse, Json, StatusCode};
/// let res = (StatusCode::CREATED, Json(serde_json::json!({"id": 7}))).into_response();
/// assert_eq!(res.status(), 201);
/// assert_eq!(res.headers()["content-type"], "application/json");
/// assert_eq!(res.body().as_bytes(), Some(&b"{\"id\":7}"[..]));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Json<T>(pub T);

static JSON: HeaderValue = HeaderValue::from_static("application/json");

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        match serde_json::to_vec(&self.0) {
            Ok(bytes) => Response::typed(ResponseBody::from(bytes), &JSON),
            Err(e) => {
                Rejection::new(StatusCode::INTERNAL_SERVER_ERROR, format!("could not serialise the response: {e}"))
                    .into_response()
            }
        }
    }
}

/// A body that did not deserialise: 400 when it is not JSON, 422 when it
/// is JSON of the wrong shape; both name the line and column.
pub(crate) fn rejection(e: serde_json::Error) -> Rejection {
    use serde_json::error::Category;
    let (status, what) = match e.classify() {
        Category::Data => (StatusCode::UNPROCESSABLE_ENTITY, "JSON body does not fit"),
        Category::Eof => (StatusCode::BAD_REQUEST, "JSON body cut short"),
        Category::Syntax | Category::Io => (StatusCode::BAD_REQUEST, "invalid JSON body"),
    };
    // serde_json's message ends with " at line L column C"; say it once, up front.
    let full = e.to_string();
    let message = full.rsplit_once(" at line ").map_or(full.as_str(), |(m, _)| m);
    Rejection::new(status, format!("{what} at line {}, column {}: {message}", e.line(), e.column()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[allow(dead_code)]
    struct Item {
        name: String,
    }

    #[test]
    fn syntax_errors_are_400_with_line_and_column() {
        let e = serde_json::from_slice::<Item>(b"{\n  \"name\": ?}").unwrap_err();
        let r = rejection(e);
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert!(r.reason().starts_with("invalid JSON body at line 2, column 11: expected value"), "{}", r.reason());
    }

    #[test]
    fn shape_errors_are_422_naming_the_field() {
        let r = rejection(serde_json::from_slice::<Item>(b"{\"nam\": 1}").unwrap_err());
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(r.reason().contains("missing field `name`"), "{}", r.reason());
        let r = rejection(serde_json::from_slice::<Item>(b"{\"name\": 1}").unwrap_err());
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert!(r.reason().contains("line 1, column"), "{}", r.reason());
        let r = rejection(serde_json::from_slice::<Item>(b"{\"name\": \"x").unwrap_err());
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert!(r.reason().starts_with("JSON body cut short"), "{}", r.reason());
    }
}
