//! [`TypedRequest`]: a request's route parameters, query string and body
//! read into the handler's types.

use std::str::FromStr;

use http::StatusCode;
#[cfg(feature = "json")]
use serde::de::DeserializeOwned;

use super::rejection::Rejection;
use crate::http::request::Request;
use crate::http::request_ext::RequestExt;

/// The most bytes [`TypedRequest::json`] and [`TypedRequest::form`] read
/// from a body when the request carries no [`BodyLimit`]: 2 MiB.
pub const DEFAULT_BODY_LIMIT: usize = 2 * 1024 * 1024;

/// The largest body [`TypedRequest::json`] and [`TypedRequest::form`]
/// read, as a request extension: put it there in a middleware (for every
/// route, or by path) to change the default 2 MiB. A longer body is a 413.
///
/// The server's own [`Limits::max_body_bytes`](crate::http::Limits) still
/// applies on top: this one is per request, that one per server.
///
/// ```
/// use greenloop::http::{App, BodyLimit, Next, Request};
/// let app = App::new(|_req: Request| "ok").wrap(|mut req: Request, next: Next<'_>| {
///     if req.path().starts_with("/import/") {
///         req.extensions_mut().insert(BodyLimit(64 * 1024 * 1024));
///     }
///     next.run(req)
/// });
/// # drop(app);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BodyLimit(pub usize);

/// Typed input from a request: route parameters, the query string, and JSON
/// or form bodies, each read into the handler's own type, failing with a
/// [`Rejection`] that names what was wrong (see the [module
/// docs](crate::http::typed) for which status each failure gets).
///
/// Methods, not handler arguments: a blocking handler reads its inputs in
/// the order it needs them and forwards failures with `?`; see
/// [why](crate::http::typed#why-methods-on-the-request-not-extractor-arguments).
///
/// The body methods consume the body: a second call reads an empty body.
pub trait TypedRequest {
    /// The route parameter `name` parsed as `T` (`u64`, `Uuid`, any
    /// `FromStr`): 400 naming the parameter when it does not parse.
    ///
    /// A route without that parameter is the program's mistake, not the
    /// client's: a 500 naming it.
    ///
    /// ```
    /// use greenloop::http::{Rejection, Request, TypedRequest};
    /// fn show(req: Request) -> Result<String, Rejection> {
    ///     let id: u64 = req.param_as("id")?;
    ///     Ok(format!("item {id}"))
    /// }
    /// # let _ = greenloop::http::Router::new().route("/items/{id}", greenloop::http::get(show));
    /// ```
    fn param_as<T>(&self, name: &str) -> Result<T, Rejection>
    where
        T: FromStr,
        T::Err: std::fmt::Display;

    /// Every route parameter into one `T` (a struct whose fields are named
    /// like the pattern's parameters); values parse as their field's type.
    #[cfg(feature = "json")]
    fn params_as<T: DeserializeOwned>(&self) -> Result<T, Rejection>;

    /// The query string into `T` (fields for the keys; `Option` for the
    /// optional ones); a missing query string is an empty one. 400 when it
    /// does not fit.
    #[cfg(feature = "json")]
    fn query_as<T: DeserializeOwned>(&self) -> Result<T, Rejection>;

    /// The body as JSON into `T`. It must be sent as `application/json`
    /// (or `application/<something>+json`), else 415; longer than the
    /// [`BodyLimit`] (default 2 MiB) is a 413; not JSON is a 400 naming the
    /// line and column; JSON that does not fit `T` is a 422 naming the field.
    #[cfg(feature = "json")]
    fn json<T: DeserializeOwned>(&mut self) -> Result<T, Rejection>;

    /// The body as an HTML form (`application/x-www-form-urlencoded`) into
    /// `T`; 415 for another content type, 413 over the [`BodyLimit`], 422
    /// when it does not fit `T`.
    #[cfg(feature = "json")]
    fn form<T: DeserializeOwned>(&mut self) -> Result<T, Rejection>;
}

impl TypedRequest for Request {
    fn param_as<T>(&self, name: &str) -> Result<T, Rejection>
    where
        T: FromStr,
        T::Err: std::fmt::Display,
    {
        let Some(raw) = self.param(name) else {
            return Err(Rejection::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("the route has no parameter `{name}`"),
            ));
        };
        raw.parse().map_err(|e| Rejection::bad_request(format!("path parameter `{name}` ({raw:?}): {e}")))
    }

    #[cfg(feature = "json")]
    fn params_as<T: DeserializeOwned>(&self) -> Result<T, Rejection> {
        // Re-encoded as a form so values parse as their fields' types
        // (serde's string deserializer would not turn "7" into a u64).
        let pairs: Vec<(&str, &str)> = self.params().map(|p| p.iter().collect()).unwrap_or_default();
        let encoded = serde_urlencoded::to_string(&pairs)
            .map_err(|e| Rejection::new(StatusCode::INTERNAL_SERVER_ERROR, format!("path parameters: {e}")))?;
        serde_urlencoded::from_str(&encoded).map_err(|e| Rejection::bad_request(format!("path parameters: {e}")))
    }

    #[cfg(feature = "json")]
    fn query_as<T: DeserializeOwned>(&self) -> Result<T, Rejection> {
        serde_urlencoded::from_str(self.query_string().unwrap_or(""))
            .map_err(|e| Rejection::bad_request(format!("invalid query string: {e}")))
    }

    #[cfg(feature = "json")]
    fn json<T: DeserializeOwned>(&mut self) -> Result<T, Rejection> {
        if !content_type_is(self, is_json) {
            return Err(unsupported(self, "application/json"));
        }
        let bytes = read_body(self, "JSON body")?;
        serde_json::from_slice(&bytes).map_err(super::json::rejection)
    }

    #[cfg(feature = "json")]
    fn form<T: DeserializeOwned>(&mut self) -> Result<T, Rejection> {
        if !content_type_is(self, |m| m == "application/x-www-form-urlencoded") {
            return Err(unsupported(self, "application/x-www-form-urlencoded"));
        }
        let bytes = read_body(self, "form body")?;
        serde_urlencoded::from_bytes(&bytes)
            .map_err(|e| Rejection::new(StatusCode::UNPROCESSABLE_ENTITY, format!("invalid form: {e}")))
    }
}

/// Whether the media type of `Content-Type` (lowercased, parameters cut)
/// passes `accept`.
#[cfg(feature = "json")]
pub(crate) fn content_type_is(req: &Request, accept: impl Fn(&str) -> bool) -> bool {
    media_type(req).is_some_and(|m| accept(&m))
}

/// The request's media type, lowercased, without parameters.
#[cfg(feature = "json")]
fn media_type(req: &Request) -> Option<String> {
    let v = std::str::from_utf8(req.header(http::header::CONTENT_TYPE)?).ok()?;
    let media = v.split(';').next().unwrap_or("").trim();
    Some(media.to_ascii_lowercase())
}

#[cfg(feature = "json")]
fn is_json(m: &str) -> bool {
    m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
}

/// 415 naming the type expected and the one sent.
pub(crate) fn unsupported(req: &Request, expected: &str) -> Rejection {
    let sent = match req.header(http::header::CONTENT_TYPE) {
        Some(v) => format!("Content-Type {:?}", String::from_utf8_lossy(v)),
        None => "no Content-Type".to_string(),
    };
    Rejection::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, format!("expected Content-Type: {expected}, got {sent}"))
}

/// The whole body, up to the request's [`BodyLimit`].
#[cfg(feature = "json")]
fn read_body(req: &mut Request, what: &str) -> Result<Vec<u8>, Rejection> {
    let limit = req.extensions().get::<BodyLimit>().map_or(DEFAULT_BODY_LIMIT, |l| l.0);
    req.body_mut().read_to_vec(limit).map_err(|e| Rejection::from_body_error(e, what))
}

#[cfg(all(test, feature = "json"))]
mod tests {
    use serde::Deserialize;

    use super::*;
    use crate::http::{Body, IntoResponse, Router, get, post};

    #[derive(Deserialize, Debug, PartialEq)]
    struct Page {
        page: u32,
        q: Option<String>,
    }

    #[derive(Deserialize, Debug, PartialEq)]
    struct Ids {
        user: u64,
        post: String,
    }

    fn call(router: &Router, method: &str, uri: &str, ct: Option<&str>, body: &str) -> (u16, String) {
        let mut b = Request::builder().method(method).uri(uri);
        if let Some(ct) = ct {
            b = b.header("content-type", ct);
        }
        let req = b.body(Body::from(body)).unwrap();
        let res = crate::http::Handler::call(router, req);
        (res.status().as_u16(), String::from_utf8(res.body().as_bytes().unwrap().to_vec()).unwrap())
    }

    fn router() -> Router {
        Router::new()
            .route(
                "/u/{user}/p/{post}",
                get(|req: Request| -> Result<String, Rejection> {
                    let ids: Ids = req.params_as()?;
                    let user: u64 = req.param_as("user")?;
                    let page: Page = req.query_as()?;
                    Ok(format!("{} {} {} {:?}", ids.user, ids.post, user + page.page as u64, page.q))
                }),
            )
            .route("/missing/{a}", get(|req: Request| req.param_as::<u8>("b").map(|_| "").into_response()))
            .route(
                "/json",
                post(|mut req: Request| -> Result<String, Rejection> {
                    let page: Page = req.json()?;
                    Ok(format!("{page:?}"))
                }),
            )
            .route(
                "/small",
                post(|mut req: Request| -> Result<String, Rejection> {
                    req.extensions_mut().insert(BodyLimit(8));
                    let page: Page = req.form()?;
                    Ok(format!("{page:?}"))
                }),
            )
    }

    #[test]
    fn params_and_query() {
        let r = router();
        assert_eq!(call(&r, "GET", "/u/7/p/x%20y?page=2&q=a+b", None, "").1, "7 x y 9 Some(\"a b\")");
        let (status, body) = call(&r, "GET", "/u/seven/p/x?page=1", None, "");
        assert_eq!(status, 400);
        assert!(body.contains("path parameter"), "{body}");
        let (status, body) = call(&r, "GET", "/u/7/p/x?page=many", None, "");
        assert_eq!(status, 400);
        assert!(body.starts_with("invalid query string"), "{body}");
        let (status, body) = call(&r, "GET", "/missing/1", None, "");
        assert_eq!((status, body.as_str()), (500, "the route has no parameter `b`\n"));
    }

    #[test]
    fn json_and_form_bodies() {
        let r = router();
        assert_eq!(call(&r, "POST", "/json", Some("application/json"), r#"{"page":3}"#).1, "Page { page: 3, q: None }");
        assert_eq!(call(&r, "POST", "/json", Some("Application/Problem+JSON; charset=utf-8"), r#"{"page":3}"#).0, 200);
        let (status, body) = call(&r, "POST", "/json", Some("text/plain"), "{}");
        assert_eq!(status, 415);
        assert_eq!(body, "expected Content-Type: application/json, got Content-Type \"text/plain\"\n");
        assert_eq!(call(&r, "POST", "/json", None, "{}").0, 415);
        let (status, body) = call(&r, "POST", "/json", Some("application/json"), "{\"page\":\n  x}");
        assert_eq!(status, 400);
        assert!(body.starts_with("invalid JSON body at line 2, column 3:"), "{body}");
        assert_eq!(call(&r, "POST", "/json", Some("application/json"), r#"{"page":"3"}"#).0, 422);
        assert_eq!(call(&r, "POST", "/small", Some("application/x-www-form-urlencoded"), "page=4").0, 200);
        let (status, body) = call(&r, "POST", "/small", Some("application/x-www-form-urlencoded"), "page=4&q=long");
        assert_eq!(status, 413);
        assert!(body.contains("8-byte limit"), "{body}");
        assert_eq!(call(&r, "POST", "/small", Some("application/x-www-form-urlencoded"), "page=-1").0, 422);
        assert_eq!(call(&r, "POST", "/small", Some("multipart/form-data"), "page=1").0, 415);
    }
}
