//! Responses beyond strings: [`Html`], [`Redirect`], a bare
//! [`ResponseBody`], and status/header/body tuples.

use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};

use crate::http::response::{IntoResponse, Response, ResponseBody};

/// An HTML page: `text/html; charset=utf-8` around anything that makes a
/// [`ResponseBody`] (`&'static str`, `String`, bytes, a stream).
///
/// ```
/// use greenloop::http::{Html, IntoResponse};
/// let res = Html(format!("<p>{}</p>", 42)).into_response();
/// assert_eq!(res.headers()["content-type"], "text/html; charset=utf-8");
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Html<T>(pub T);

static HTML: HeaderValue = HeaderValue::from_static("text/html; charset=utf-8");

impl<T: Into<ResponseBody>> IntoResponse for Html<T> {
    fn into_response(self) -> Response {
        Response::typed(self.0.into(), &HTML)
    }
}

/// A redirect: a `Location` and the status that says how to follow it.
///
/// - [`Redirect::to`]: 307, temporary, the client repeats the same method
///   and body at the new place.
/// - [`Redirect::see_other`]: 303, after a form `POST`: the client `GET`s the
///   new place (the post/redirect/get pattern).
/// - [`Redirect::permanent`]: 308, moved for good, same method and body;
///   clients and caches may remember it.
///
/// A location that is not a valid header value (a newline in it) answers
/// 500 rather than a broken header.
///
/// ```
/// use greenloop::http::{IntoResponse, Redirect};
/// let res = Redirect::see_other("/items/7").into_response();
/// assert_eq!(res.status(), 303);
/// assert_eq!(res.headers()["location"], "/items/7");
/// ```
#[derive(Debug, Clone)]
pub struct Redirect {
    status: StatusCode,
    location: Result<HeaderValue, String>,
}

impl Redirect {
    /// 307 Temporary Redirect to `uri`.
    pub fn to(uri: &str) -> Redirect {
        Redirect::with(StatusCode::TEMPORARY_REDIRECT, uri)
    }

    /// 303 See Other to `uri`.
    pub fn see_other(uri: &str) -> Redirect {
        Redirect::with(StatusCode::SEE_OTHER, uri)
    }

    /// 308 Permanent Redirect to `uri`.
    pub fn permanent(uri: &str) -> Redirect {
        Redirect::with(StatusCode::PERMANENT_REDIRECT, uri)
    }

    fn with(status: StatusCode, uri: &str) -> Redirect {
        Redirect { status, location: HeaderValue::try_from(uri).map_err(|_| uri.to_string()) }
    }
}

impl IntoResponse for Redirect {
    fn into_response(self) -> Response {
        match self.location {
            Ok(location) => {
                let mut r = Response::new(ResponseBody::empty());
                *r.status_mut() = self.status;
                r.headers_mut().insert(header::LOCATION, location);
                r
            }
            Err(uri) => invalid_header("Location", &uri),
        }
    }
}

impl IntoResponse for ResponseBody {
    /// 200 with this body and no `Content-Type`; so `(StatusCode,
    /// ResponseBody)` is a response too.
    fn into_response(self) -> Response {
        Response::new(self)
    }
}

impl<T: IntoResponse> IntoResponse for (StatusCode, HeaderMap, T) {
    /// The body's response with this status, and these headers added
    /// (replacing the body's own of the same name, such as `Content-Type`).
    fn into_response(self) -> Response {
        let (status, headers, body) = self;
        let mut r = body.into_response();
        *r.status_mut() = status;
        let mut last = None;
        for (name, value) in headers {
            // `None` name: another value of the previous header.
            let name = match name {
                Some(n) => {
                    r.headers_mut().remove(&n);
                    last = Some(n.clone());
                    n
                }
                None => match &last {
                    Some(n) => n.clone(),
                    None => continue,
                },
            };
            r.headers_mut().append(name, value);
        }
        r
    }
}

impl<T, V, const N: usize> IntoResponse for (StatusCode, [(HeaderName, V); N], T)
where
    T: IntoResponse,
    V: TryInto<HeaderValue>,
{
    /// The body's response with this status and these headers
    /// (`[(header::CACHE_CONTROL, "no-store")]`), each replacing the body's
    /// own of that name. A value that is not a valid header value answers 500.
    fn into_response(self) -> Response {
        let (status, headers, body) = self;
        let mut r = body.into_response();
        *r.status_mut() = status;
        let mut seen: Vec<HeaderName> = Vec::with_capacity(N);
        for (name, value) in headers {
            let Ok(value) = value.try_into() else {
                return invalid_header(name.as_str(), "(not a valid header value)");
            };
            if !seen.contains(&name) {
                r.headers_mut().remove(&name);
                seen.push(name.clone());
            }
            r.headers_mut().append(name, value);
        }
        r
    }
}

/// 500 for a header the handler built wrong.
fn invalid_header(name: &str, value: &str) -> Response {
    let body = format!("the handler built an invalid {name} header: {value:?}\n");
    (StatusCode::INTERNAL_SERVER_ERROR, body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tuples_set_status_headers_and_body() {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv"));
        h.append("x-a", HeaderValue::from_static("1"));
        h.append("x-a", HeaderValue::from_static("2"));
        let r = (StatusCode::ACCEPTED, h, "a,b").into_response();
        assert_eq!(r.status(), 202);
        assert_eq!(r.headers()["content-type"], "text/csv");
        assert_eq!(r.headers().get_all("x-a").iter().count(), 2);
        assert_eq!(r.body().as_bytes(), Some(&b"a,b"[..]));

        let r = (StatusCode::OK, [(header::CACHE_CONTROL, "no-store"), (header::VARY, "a")], "x").into_response();
        assert_eq!(r.headers()["cache-control"], "no-store");
        assert_eq!(r.headers()["content-type"], "text/plain; charset=utf-8");

        let r = (StatusCode::OK, [(header::LOCATION, "a\nb")], "x").into_response();
        assert_eq!(r.status(), 500);

        let r = (StatusCode::IM_A_TEAPOT, ResponseBody::from("tea")).into_response();
        assert_eq!(r.status(), 418);
        assert!(r.headers().get("content-type").is_none());
    }

    #[test]
    fn redirects() {
        let r = Redirect::to("/a").into_response();
        assert_eq!((r.status().as_u16(), &r.headers()["location"]), (307, &HeaderValue::from_static("/a")));
        assert_eq!(Redirect::permanent("/b").into_response().status(), 308);
        assert_eq!(Redirect::see_other("/c\r\nx: y").into_response().status(), 500);
    }

    #[test]
    fn results_of_responses() {
        let ok: Result<Html<&'static str>, StatusCode> = Ok(Html("<b>hi</b>"));
        assert_eq!(ok.into_response().headers()["content-type"], "text/html; charset=utf-8");
        let err: Result<Html<&'static str>, StatusCode> = Err(StatusCode::NOT_FOUND);
        assert_eq!(err.into_response().status(), 404);
    }
}
