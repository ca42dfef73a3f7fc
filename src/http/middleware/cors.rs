//! Cross-origin resource sharing: which other sites' pages may call this
//! server from a browser, and the preflight requests that ask.

use std::time::Duration;

use http::{HeaderName, HeaderValue, Method, StatusCode, header};

use crate::http::response::ResponseBody;
use crate::http::{IntoResponse, Middleware, Next, Request, Response};

/// CORS: lets pages from the allowed origins call the routes it wraps
/// with `fetch()`, and keeps every other origin's pages out (the browser
/// enforces it, from the headers this writes).
///
/// - A request with an allowed `Origin` gets `Access-Control-Allow-Origin`
///   (and `-Allow-Credentials`, `-Expose-Headers` when configured).
/// - A preflight (`OPTIONS` with `Origin` and
///   `Access-Control-Request-Method`) from an allowed origin is answered
///   here, 204 with the allowed methods, headers and max-age, without
///   calling the handler. From any other origin it is a 403 saying so.
/// - A request from an origin not allowed goes to the handler as usual and
///   its response carries no CORS header: the browser hides it from the
///   calling page.
/// - Responses carry `Vary: Origin` unless the answer is the same for
///   every origin (`*` without credentials), so caches keep them apart.
///
/// Origins are compared exactly (scheme, host and port, as the browser
/// sends them: `https://app.example.com`, `http://localhost:3000`).
/// With [`allow_any_origin`](Cors::allow_any_origin) and credentials, the
/// request's origin is echoed: browsers refuse `*` with credentials.
///
/// ```
/// use std::time::Duration;
/// use greenloop::http::middleware::Cors;
/// use greenloop::http::{App, Method, Request};
///
/// let cors = Cors::new()
///     .allow_origin("https://app.example.com")
///     .allow_methods([Method::GET, Method::POST, Method::DELETE])
///     .allow_headers(["content-type", "x-api-key"])
///     .allow_credentials(true)
///     .max_age(Duration::from_secs(600));
/// let app = App::new(|_req: Request| "ok").wrap(cors);
/// # drop(app);
/// ```
#[derive(Clone, Debug)]
pub struct Cors {
    origins: Origins,
    methods: HeaderValue,
    headers: AllowHeaders,
    expose: Option<HeaderValue>,
    credentials: bool,
    max_age: Option<Duration>,
}

#[derive(Clone, Debug)]
enum Origins {
    List(Vec<HeaderValue>),
    Any,
}

#[derive(Clone, Debug)]
enum AllowHeaders {
    List(Option<HeaderValue>),
    /// Whatever the preflight asks for.
    Mirror,
}

const ALLOW_ORIGIN: HeaderName = header::ACCESS_CONTROL_ALLOW_ORIGIN;
const ANY: HeaderValue = HeaderValue::from_static("*");
const TRUE: HeaderValue = HeaderValue::from_static("true");
const ORIGIN: HeaderValue = HeaderValue::from_static("origin");

impl Default for Cors {
    fn default() -> Self {
        Cors::new()
    }
}

impl Cors {
    /// No origin allowed yet; methods `GET, HEAD, POST`; no extra request
    /// headers; no credentials; no max-age (the browser's default, 5 s).
    pub fn new() -> Cors {
        Cors {
            origins: Origins::List(Vec::new()),
            methods: HeaderValue::from_static("GET, HEAD, POST"),
            headers: AllowHeaders::List(None),
            expose: None,
            credentials: false,
            max_age: None,
        }
    }

    /// Allows pages from `origin` (`https://app.example.com`). A value
    /// that cannot be a header (a newline in it) is ignored: it would
    /// never match.
    pub fn allow_origin(mut self, origin: &str) -> Cors {
        if let (Origins::List(list), Ok(v)) = (&mut self.origins, HeaderValue::try_from(origin.trim_end_matches('/'))) {
            list.push(v);
        }
        self
    }

    /// Allows pages from any origin: for a public, read-only API.
    pub fn allow_any_origin(mut self) -> Cors {
        self.origins = Origins::Any;
        self
    }

    /// The methods a preflight allows (default `GET, HEAD, POST`).
    pub fn allow_methods(mut self, methods: impl IntoIterator<Item = Method>) -> Cors {
        let list: Vec<String> = methods.into_iter().map(|m| m.to_string()).collect();
        if let Ok(v) = HeaderValue::try_from(list.join(", ")) {
            self.methods = v;
        }
        self
    }

    /// The request headers a preflight allows beyond the always-allowed
    /// ones (`content-type` for a JSON body, `authorization`...).
    pub fn allow_headers<'a>(mut self, names: impl IntoIterator<Item = &'a str>) -> Cors {
        let list: Vec<&str> = names.into_iter().collect();
        self.headers = AllowHeaders::List(HeaderValue::try_from(list.join(", ")).ok().filter(|_| !list.is_empty()));
        self
    }

    /// Allows whatever request headers a preflight asks for.
    pub fn allow_any_header(mut self) -> Cors {
        self.headers = AllowHeaders::Mirror;
        self
    }

    /// The response headers the calling page may read besides the basic
    /// ones (`x-request-id`, say).
    pub fn expose_headers<'a>(mut self, names: impl IntoIterator<Item = &'a str>) -> Cors {
        let list: Vec<&str> = names.into_iter().collect();
        self.expose = HeaderValue::try_from(list.join(", ")).ok().filter(|_| !list.is_empty());
        self
    }

    /// Whether pages may send cookies and HTTP authentication along (and
    /// read the answer): `fetch(url, {credentials: "include"})`.
    pub fn allow_credentials(mut self, yes: bool) -> Cors {
        self.credentials = yes;
        self
    }

    /// How long a browser may cache a preflight's answer.
    pub fn max_age(mut self, age: Duration) -> Cors {
        self.max_age = Some(age);
        self
    }

    /// The `Access-Control-Allow-Origin` for `origin`, or `None` when not allowed.
    fn allowed(&self, origin: &HeaderValue) -> Option<HeaderValue> {
        match &self.origins {
            Origins::Any if !self.credentials => Some(ANY),
            Origins::Any => Some(origin.clone()),
            Origins::List(list) => {
                list.iter().any(|o| o.as_bytes().eq_ignore_ascii_case(origin.as_bytes())).then(|| origin.clone())
            }
        }
    }

    /// Whether responses differ by origin.
    fn varies(&self) -> bool {
        !matches!(self.origins, Origins::Any) || self.credentials
    }

    fn preflight(&self, req: &Request, allow: HeaderValue) -> Response {
        let mut res = Response::new(ResponseBody::empty());
        *res.status_mut() = StatusCode::NO_CONTENT;
        let h = res.headers_mut();
        h.insert(ALLOW_ORIGIN, allow);
        h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, self.methods.clone());
        let asked = req.header(header::ACCESS_CONTROL_REQUEST_HEADERS).and_then(|v| HeaderValue::from_bytes(v).ok());
        match (&self.headers, asked) {
            (AllowHeaders::Mirror, Some(asked)) => {
                h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, asked);
            }
            (AllowHeaders::List(Some(list)), _) => {
                h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, list.clone());
            }
            _ => {}
        }
        if self.credentials {
            h.insert(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, TRUE);
        }
        if let Some(age) = self.max_age {
            h.insert(header::ACCESS_CONTROL_MAX_AGE, age.as_secs().into());
        }
        if self.varies() {
            h.append(header::VARY, ORIGIN);
        }
        if matches!(self.headers, AllowHeaders::Mirror) {
            h.append(header::VARY, HeaderValue::from_static("access-control-request-headers"));
        }
        res
    }
}

impl Middleware for Cors {
    fn call(&self, req: Request, next: Next<'_>) -> Response {
        // Read from the received head: a request without `Origin` (most)
        // costs no header map.
        let Some(origin) = req.header(header::ORIGIN).and_then(|v| HeaderValue::from_bytes(v).ok()) else {
            let mut res = next.run(req);
            if self.varies() {
                res.headers_mut().append(header::VARY, ORIGIN);
            }
            return res;
        };
        let allow = self.allowed(&origin);
        let preflight = req.method() == Method::OPTIONS && req.header(header::ACCESS_CONTROL_REQUEST_METHOD).is_some();
        if preflight {
            return match allow {
                Some(allow) => self.preflight(&req, allow),
                None => {
                    let mut res = (
                        StatusCode::FORBIDDEN,
                        format!("origin {:?} is not allowed\n", String::from_utf8_lossy(origin.as_bytes())),
                    )
                        .into_response();
                    if self.varies() {
                        res.headers_mut().append(header::VARY, ORIGIN);
                    }
                    res
                }
            };
        }
        let mut res = next.run(req);
        let h = res.headers_mut();
        if let Some(allow) = allow {
            h.insert(ALLOW_ORIGIN, allow);
            if self.credentials {
                h.insert(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, TRUE);
            }
            if let Some(expose) = &self.expose {
                h.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, expose.clone());
            }
        }
        if self.varies() {
            h.append(header::VARY, ORIGIN);
        }
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{App, Body};

    fn req(method: &str, origin: Option<&str>, preflight: bool) -> Request {
        let mut b = Request::builder().method(method).uri("/");
        if let Some(o) = origin {
            b = b.header("origin", o);
        }
        if preflight {
            b = b.header("access-control-request-method", "DELETE").header("access-control-request-headers", "x-a");
        }
        b.body(Body::empty()).unwrap()
    }

    #[test]
    fn listed_origins_only() {
        let cors = Cors::new().allow_origin("https://a.example/").allow_methods([Method::GET, Method::DELETE]);
        let app = App::new(|_req: Request| "handler").wrap(cors);
        let res = app.call(req("GET", Some("https://a.example"), false));
        assert_eq!(res.headers()["access-control-allow-origin"], "https://a.example");
        assert_eq!(res.headers()["vary"], "origin");
        let res = app.call(req("GET", Some("https://evil.example"), false));
        assert_eq!(res.body().as_bytes(), Some(&b"handler"[..]));
        assert!(res.headers().keys().all(|k| !k.as_str().starts_with("access-control-")));
        let res = app.call(req("OPTIONS", Some("https://a.example"), true));
        assert_eq!(res.status(), 204);
        assert_eq!(res.headers()["access-control-allow-methods"], "GET, DELETE");
        assert!(res.headers().get("access-control-allow-headers").is_none());
        let res = app.call(req("OPTIONS", Some("https://evil.example"), true));
        assert_eq!(res.status(), 403);
        assert!(res.headers().keys().all(|k| !k.as_str().starts_with("access-control-")));
        // OPTIONS without Access-Control-Request-Method is not a preflight.
        assert_eq!(app.call(req("OPTIONS", Some("https://a.example"), false)).body().as_bytes(), Some(&b"handler"[..]));
    }

    #[test]
    fn any_origin_with_and_without_credentials() {
        let app = App::new(|_req: Request| "x").wrap(Cors::new().allow_any_origin().allow_any_header());
        let res = app.call(req("GET", Some("https://b.example"), false));
        assert_eq!(res.headers()["access-control-allow-origin"], "*");
        assert!(res.headers().get("vary").is_none());
        let res = app.call(req("OPTIONS", Some("https://b.example"), true));
        assert_eq!(res.headers()["access-control-allow-headers"], "x-a");
        let app = App::new(|_req: Request| "x").wrap(
            Cors::new()
                .allow_any_origin()
                .allow_credentials(true)
                .max_age(Duration::from_secs(60))
                .expose_headers(["x-request-id"]),
        );
        let res = app.call(req("GET", Some("https://b.example"), false));
        assert_eq!(res.headers()["access-control-allow-origin"], "https://b.example");
        assert_eq!(res.headers()["access-control-allow-credentials"], "true");
        assert_eq!(res.headers()["access-control-expose-headers"], "x-request-id");
        let res = app.call(req("OPTIONS", Some("https://b.example"), true));
        assert_eq!(res.headers()["access-control-max-age"], "60");
    }
}
