//! Cookies: the request's, read into a jar; the jar's changes written back
//! as `Set-Cookie`; signed and private (encrypted) cookies with a [`Key`].
//!
//! Built on the `cookie` crate (what axum-extra and Rocket use): its
//! [`CookieJar`] tracks what the handler added or removed, its signed jar
//! authenticates values with HMAC-SHA256, its private jar encrypts and
//! authenticates them with AES-256-GCM.
//!
//! ```
//! use greenloop::http::cookies::{Cookie, CookieJar, Key, RequestCookies};
//! use greenloop::http::{Body, IntoResponse, Request};
//!
//! // One key for the whole server (Key::generate() at start, or
//! // Key::from(64 bytes) kept secret so restarts keep sessions).
//! let key = Key::generate();
//!
//! let visit = |req: Request| {
//!     let mut jar = req.cookies();
//!     let visits: u32 = jar.signed(&key).get("visits").and_then(|c| c.value().parse().ok()).unwrap_or(0);
//!     jar.signed_mut(&key).add(Cookie::build(("visits", (visits + 1).to_string())).http_only(true).path("/"));
//!     jar.remove(Cookie::from("old"));
//!     (jar, format!("visit {}", visits + 1))
//! };
//!
//! let req = Request::builder().header("cookie", "old=1; theme=dark").body(Body::empty()).unwrap();
//! let res = visit(req).into_response();
//! let set: Vec<_> = res.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap()).collect();
//! assert_eq!(set.len(), 2); // the signed `visits`, and `old` removed
//! ```

use http::{HeaderValue, header};

pub use cookie::{Cookie, CookieJar, Key, SameSite};

use super::request::RequestView;
use super::response::{IntoResponse, Response};

/// The request's cookies, on the request.
pub trait RequestCookies {
    /// Every cookie of the request's `Cookie` headers in a [`CookieJar`]
    /// (as the jar's originals: not sent back unless changed). Malformed
    /// pairs are skipped; values are percent-decoded.
    fn cookies(&self) -> CookieJar;

    /// One cookie's value, when the request has it (no jar needed).
    fn cookie(&self, name: &str) -> Option<String>;
}

impl<R: RequestView> RequestCookies for R {
    fn cookies(&self) -> CookieJar {
        let mut jar = CookieJar::new();
        for c in request_cookies(self) {
            jar.add_original(c);
        }
        jar
    }

    fn cookie(&self, name: &str) -> Option<String> {
        request_cookies(self).find(|c| c.name() == name).map(|c| c.value().to_string())
    }
}

fn request_cookies(req: &impl RequestView) -> impl Iterator<Item = Cookie<'static>> + '_ {
    req.view_headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| Cookie::split_parse_encoded(v.to_string()))
        .filter_map(Result::ok)
}

/// Appends a `Set-Cookie` to `res` for every cookie added to or removed
/// from `jar` since it was read (removals expire the cookie).
pub fn set_cookies(res: &mut Response, jar: &CookieJar) {
    for c in jar.delta() {
        if let Ok(v) = HeaderValue::try_from(c.encoded().to_string()) {
            res.headers_mut().append(header::SET_COOKIE, v);
        }
    }
}

impl<T: IntoResponse> IntoResponse for (CookieJar, T) {
    /// `T`'s response with the jar's changes as `Set-Cookie` headers.
    fn into_response(self) -> Response {
        let mut res = self.1.into_response();
        set_cookies(&mut res, &self.0);
        res
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::Body;

    fn req(cookie: &str) -> crate::http::Request {
        crate::http::Request::builder().header("cookie", cookie).header("cookie", "z=26").body(Body::empty()).unwrap()
    }

    #[test]
    fn reading_and_writing() {
        let r = req("a=1; b=hello%20world; junk; c=");
        assert_eq!(r.cookie("b").as_deref(), Some("hello world"));
        assert_eq!(r.cookie("z").as_deref(), Some("26"));
        let mut jar = r.cookies();
        assert_eq!(jar.get("a").map(|c| c.value()), Some("1"));
        jar.add(Cookie::build(("session", "s p")).secure(true).same_site(SameSite::Lax));
        jar.remove(Cookie::from("a"));
        let res = (jar, "ok").into_response();
        let mut set: Vec<_> =
            res.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_string()).collect();
        set.sort();
        assert!(set[0].starts_with("a=; ") && set[0].contains("Max-Age=0"), "{set:?}");
        assert_eq!(set[1], "session=s%20p; SameSite=Lax; Secure");
    }

    #[test]
    fn signed_and_private_values_survive_only_untouched() {
        let key = Key::generate();
        let mut jar = CookieJar::new();
        jar.signed_mut(&key).add(("user", "7"));
        // A value long and plain enough that random base64 never spells it.
        jar.private_mut(&key).add(("secret", "plain-secret-value"));
        let mut res = ().into_response();
        set_cookies(&mut res, &jar);
        let header: Vec<String> = res
            .headers()
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string())
            .collect();
        assert!(!header.iter().any(|h| h.contains("plain-secret-value")), "private values are encrypted: {header:?}");
        let back = req(&header.join("; ")).cookies();
        assert_eq!(back.signed(&key).get("user").map(|c| c.value().to_string()).as_deref(), Some("7"));
        assert_eq!(
            back.private(&key).get("secret").map(|c| c.value().to_string()).as_deref(),
            Some("plain-secret-value")
        );
        // Another key, or a changed value, reads nothing.
        assert!(back.signed(&Key::generate()).get("user").is_none());
        let forged = header.iter().find(|h| h.starts_with("user=")).unwrap().replace('7', "8");
        assert!(req(&forged).cookies().signed(&key).get("user").is_none());
    }
}
