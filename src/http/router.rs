//! Routing: paths to per-method handlers, on top of `matchit`.
//!
//! Patterns use `matchit`'s syntax: `/users/{id}` captures one segment,
//! `/files/{*rest}` captures the rest of the path (at least one character),
//! and `{{`/`}}` are literal braces. Matching is on the raw (still
//! percent-encoded) request path; captured values are percent-decoded
//! (`+` stays a `+` in paths) and put in the request's extensions as
//! [`Params`], read with [`RequestExt::param`](super::RequestExt::param).
//!
//! ```
//! use greenloop::http::{Request, RequestExt, Router, get, post};
//!
//! fn show(req: Request) -> String {
//!     format!("user {}", req.param("id").unwrap_or("?"))
//! }
//! fn create(_req: Request) -> &'static str {
//!     "created"
//! }
//!
//! let router = Router::new().route("/users", post(create)).route("/users/{id}", get(show));
//! # drop(router);
//! ```
//!
//! What the router answers by itself: an unknown path is a 404 (or the
//! [`fallback`](Router::fallback)); a known path with a method it has no
//! handler for is a 405 with `Allow`; `HEAD` runs the `GET` handler when
//! there is no `HEAD` handler (the server sends no body for `HEAD`);
//! `OPTIONS` without a handler is a 204 with `Allow`. There is no
//! trailing-slash redirection: `/a` and `/a/` are different routes.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use http::{HeaderValue, Method, StatusCode, header};

use super::query::percent_decode_path;
use super::response::IntoResponse;
use super::{Handler, Request, Response};

/// The parameters captured by the matched route, in pattern order, with
/// percent-decoded values. The router inserts them into the request's
/// extensions only when the route has parameters.
#[derive(Clone)]
pub struct Params {
    /// Parameter names, shared by every match of the route.
    names: Arc<[Box<str>]>,
    /// All decoded values, back to back.
    buf: String,
    /// End offset in `buf` of each value.
    ends: Vec<usize>,
}

impl Params {
    /// The value of parameter `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        let i = self.names.iter().position(|n| &**n == name)?;
        Some(self.value(i))
    }

    fn value(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.buf[start..self.ends[i]]
    }

    /// `(name, value)` pairs in the order they appear in the pattern.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.names.iter().enumerate().map(|(i, n)| (&**n, self.value(i)))
    }

    /// The number of parameters.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether there are none (never the case for params the router inserted).
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }
}

impl fmt::Debug for Params {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// The methods with a fixed slot in a [`MethodRouter`], in slot order.
const SLOTS: [Method; 9] = [
    Method::GET,
    Method::POST,
    Method::PUT,
    Method::DELETE,
    Method::PATCH,
    Method::HEAD,
    Method::OPTIONS,
    Method::TRACE,
    Method::CONNECT,
];
const GET: usize = 0;
const HEAD: usize = 5;

fn slot(m: &Method) -> Option<usize> {
    SLOTS.iter().position(|s| s == m)
}

/// The handlers for one path, per method. Build it with [`get`], [`post`],
/// ... and chain more: `get(list).post(create)`.
///
/// Giving the same method two handlers panics when the router is built.
#[derive(Clone, Default)]
pub struct MethodRouter {
    slots: [Option<Arc<dyn Handler>>; 9],
    /// Extension methods, rare.
    other: Vec<(Method, Arc<dyn Handler>)>,
    /// For every method without its own handler.
    any: Option<Arc<dyn Handler>>,
}

impl MethodRouter {
    /// A method router with no handlers (every method answers 405).
    pub fn new() -> MethodRouter {
        MethodRouter::default()
    }

    /// Routes `method` to `h`. Works for extension methods too.
    ///
    /// # Panics
    /// If `method` already has a handler.
    pub fn on(self, method: Method, h: impl Handler) -> MethodRouter {
        self.set(method, Arc::new(h))
    }

    fn set(mut self, method: Method, h: Arc<dyn Handler>) -> MethodRouter {
        if let Err(m) = self.try_set(method, h) {
            panic!("MethodRouter: a {m} handler was given twice");
        }
        self
    }

    /// Adds a handler, giving the method back if it already has one.
    fn try_set(&mut self, method: Method, h: Arc<dyn Handler>) -> Result<(), Method> {
        let place = match slot(&method) {
            Some(i) => &mut self.slots[i],
            None => match self.other.iter().position(|(m, _)| *m == method) {
                Some(_) => return Err(method),
                None => {
                    self.other.push((method, h));
                    return Ok(());
                }
            },
        };
        if place.is_some() {
            return Err(method);
        }
        *place = Some(h);
        Ok(())
    }

    /// Routes every method without a handler of its own to `h`.
    ///
    /// # Panics
    /// If there already is such a handler.
    pub fn any(mut self, h: impl Handler) -> MethodRouter {
        assert!(self.any.is_none(), "MethodRouter: an `any` handler was given twice");
        self.any = Some(Arc::new(h));
        self
    }

    /// Moves `other`'s handlers into `self`; `Err` names a method both have.
    fn merge(&mut self, other: MethodRouter) -> Result<(), String> {
        for (i, h) in other.slots.into_iter().enumerate() {
            if let Some(h) = h {
                self.try_set(SLOTS[i].clone(), h).map_err(|m| m.to_string())?;
            }
        }
        for (m, h) in other.other {
            self.try_set(m, h).map_err(|m| m.to_string())?;
        }
        if let Some(h) = other.any {
            if self.any.is_some() {
                return Err("`any`".to_string());
            }
            self.any = Some(h);
        }
        Ok(())
    }

    /// The handler for `method`, `HEAD` falling back to `GET`, then `any`.
    #[inline]
    fn handler(&self, method: &Method) -> Option<&Arc<dyn Handler>> {
        // Most requests are GETs to a route that has a GET handler: one
        // compare, not the search of the slots for the method.
        if *method == Method::GET
            && let Some(h) = &self.slots[GET]
        {
            return Some(h);
        }
        self.handler_by_slot(method)
    }

    /// [`handler`](Self::handler) in general.
    fn handler_by_slot(&self, method: &Method) -> Option<&Arc<dyn Handler>> {
        let own = match slot(method) {
            Some(HEAD) => self.slots[HEAD].as_ref().or(self.slots[GET].as_ref()),
            Some(i) => self.slots[i].as_ref(),
            None => self.other.iter().find(|(m, _)| m == method).map(|(_, h)| h),
        };
        own.or(self.any.as_ref())
    }

    /// The `Allow` header value: every routed method, `HEAD` with `GET`,
    /// and `OPTIONS` (answered by the router if not by a handler); sorted.
    fn allow(&self) -> HeaderValue {
        let mut names: Vec<&str> = Vec::new();
        for (i, h) in self.slots.iter().enumerate() {
            if h.is_some() {
                names.push(SLOTS[i].as_str());
            }
        }
        if self.slots[GET].is_some() {
            names.push("HEAD");
        }
        names.push("OPTIONS");
        names.extend(self.other.iter().map(|(m, _)| m.as_str()));
        names.sort_unstable();
        names.dedup();
        // Method names are tokens, so this cannot fail; be safe anyway.
        HeaderValue::from_str(&names.join(", ")).unwrap_or(HeaderValue::from_static("OPTIONS"))
    }
}

impl fmt::Debug for MethodRouter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut methods: Vec<&str> =
            SLOTS.iter().zip(&self.slots).filter(|(_, h)| h.is_some()).map(|(m, _)| m.as_str()).collect();
        methods.extend(self.other.iter().map(|(m, _)| m.as_str()));
        if self.any.is_some() {
            methods.push("*");
        }
        f.debug_tuple("MethodRouter").field(&methods).finish()
    }
}

macro_rules! method_fns {
    ($($(#[$doc:meta])* $name:ident => $method:ident;)*) => {
        impl MethodRouter {$(
            $(#[$doc])*
            ///
            /// # Panics
            /// If this method already has a handler.
            pub fn $name(self, h: impl Handler) -> MethodRouter {
                self.set(Method::$method, Arc::new(h))
            }
        )*}
        $(
            $(#[$doc])*
            pub fn $name(h: impl Handler) -> MethodRouter {
                MethodRouter::new().$name(h)
            }
        )*
    };
}

method_fns! {
    /// Routes `GET` (and `HEAD`, unless it has its own handler) to `h`.
    get => GET;
    /// Routes `POST` to `h`.
    post => POST;
    /// Routes `PUT` to `h`.
    put => PUT;
    /// Routes `DELETE` to `h`.
    delete => DELETE;
    /// Routes `PATCH` to `h`.
    patch => PATCH;
    /// Routes `HEAD` to `h` (otherwise `HEAD` runs the `GET` handler).
    head => HEAD;
    /// Routes `OPTIONS` to `h` (otherwise the router answers 204 with `Allow`).
    options => OPTIONS;
}

/// Routes every method to `h`.
pub fn any(h: impl Handler) -> MethodRouter {
    MethodRouter::new().any(h)
}

/// Routes `method` to `h`; for extension methods, or a method chosen at run time.
pub fn on(method: Method, h: impl Handler) -> MethodRouter {
    MethodRouter::new().on(method, h)
}

/// One routed path.
struct Endpoint {
    methods: MethodRouter,
    /// Precomputed `Allow` value.
    allow: HeaderValue,
    /// Parameter names, in pattern order.
    names: Arc<[Box<str>]>,
}

/// Maps paths to [`MethodRouter`]s; a [`Handler`], so it can be served
/// directly or wrapped in an [`App`](super::App) with middleware.
///
/// Building a router panics on an invalid pattern, on two patterns that
/// conflict, or on two handlers for one method of one path: those are
/// programming errors, found at startup.
#[derive(Default)]
pub struct Router {
    matcher: matchit::Router<usize>,
    /// The patterns without parameters, found before `matcher` is walked.
    exact: exact::ExactPaths,
    endpoints: Vec<Endpoint>,
    /// Pattern -> index in `endpoints`, for merging `route` calls.
    by_pattern: HashMap<String, usize>,
    fallback: Option<Arc<dyn Handler>>,
}

impl Router {
    /// An empty router: every path is a 404.
    pub fn new() -> Router {
        Router::default()
    }

    /// Routes `path` to the handlers in `methods`. Routing the same path
    /// again adds the new methods to it.
    ///
    /// # Panics
    /// If `path` is not a valid pattern, conflicts with another route, or
    /// gives a method that already has a handler for this path.
    pub fn route(mut self, path: &str, methods: MethodRouter) -> Router {
        if let Some(&i) = self.by_pattern.get(path) {
            let ep = &mut self.endpoints[i];
            if let Err(m) = ep.methods.merge(methods) {
                panic!("Router::route({path:?}): a {m} handler is already routed for this path");
            }
            ep.allow = ep.methods.allow();
            return self;
        }
        let names = match param_names(path) {
            Some(names) => names,
            None => panic!("Router::route({path:?}): invalid route pattern (unbalanced braces)"),
        };
        let i = self.endpoints.len();
        if let Err(e) = self.matcher.insert(path, i) {
            panic!("Router::route({path:?}): {e}");
        }
        self.exact.insert(path, i);
        let allow = methods.allow();
        self.endpoints.push(Endpoint { methods, allow, names: names.into() });
        self.by_pattern.insert(path.to_string(), i);
        self
    }

    /// Answers requests for unknown paths with `h` instead of a plain 404.
    pub fn fallback(mut self, h: impl Handler) -> Router {
        self.fallback = Some(Arc::new(h));
        self
    }
}

impl fmt::Debug for Router {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut routes: Vec<(&str, &MethodRouter)> =
            self.by_pattern.iter().map(|(p, &i)| (p.as_str(), &self.endpoints[i].methods)).collect();
        routes.sort_unstable_by_key(|(p, _)| *p);
        f.debug_struct("Router").field("routes", &routes).field("fallback", &self.fallback.is_some()).finish()
    }
}

/// The parameter names in a `matchit` pattern, in order; `None` if the
/// braces do not balance (`matchit` rejects those too).
fn param_names(pattern: &str) -> Option<Vec<Box<str>>> {
    let mut names = Vec::new();
    let mut rest = pattern;
    while let Some(i) = rest.find(['{', '}']) {
        let (c, after) = (rest.as_bytes()[i], &rest[i + 1..]);
        if after.as_bytes().first() == Some(&c) {
            rest = &after[1..]; // `{{` or `}}`: a literal brace
            continue;
        }
        if c == b'}' {
            return None;
        }
        let end = after.find('}')?;
        let name = &after[..end];
        names.push(name.strip_prefix('*').unwrap_or(name).into());
        rest = &after[end + 1..];
    }
    Some(names)
}

fn text(status: StatusCode, body: String) -> Response {
    (status, body).into_response()
}

impl Handler for Router {
    // The hot path stays small: every byte of this frame is stack that each
    // connection's green thread keeps resident while its handler runs, so
    // the lookup (whose match and parameters are dead once the handler is
    // found) and the rare answers (404, 405, OPTIONS) live in out-of-line
    // functions.
    fn call(&self, req: Request) -> Response {
        self.call_in_place(&mut Some(req))
    }

    fn call_in_place(&self, slot: &mut Option<Request>) -> Response {
        match self.lookup(slot) {
            Some(h) => h.call_in_place(slot),
            None => self.miss(slot),
        }
    }
}

impl Router {
    /// The handler for the request in `slot`, with its path parameters
    /// stored in the request; `None` when no route and method match.
    #[inline(never)]
    fn lookup(&self, slot: &mut Option<Request>) -> Option<&dyn Handler> {
        let req = slot.as_mut()?;
        if let Some(i) = self.exact.get(req.path()) {
            // A route without parameters: what `matcher` would find (see `exact`).
            return self.endpoints[i].methods.handler(req.method()).map(|h| &**h);
        }
        self.lookup_tree(req)
    }

    /// [`lookup`](Self::lookup) for paths no pattern without parameters spells.
    #[inline(never)]
    fn lookup_tree<'r>(&'r self, req: &mut Request) -> Option<&'r dyn Handler> {
        let matched = self.matcher.at(req.path()).ok()?;
        let ep = &self.endpoints[*matched.value];
        let h = ep.methods.handler(req.method())?;
        if !matched.params.is_empty() {
            let params = decode_params(ep, &matched.params);
            req.extensions_mut().insert(params);
        }
        Some(&**h)
    }

    /// Answers a request no route took: the fallback, 404, 405 or OPTIONS.
    #[cold]
    #[inline(never)]
    fn miss(&self, slot: &mut Option<Request>) -> Response {
        let Some(req) = slot.as_ref() else {
            return super::handler::empty_slot();
        };
        if let Ok(matched) = self.matcher.at(req.path()) {
            return method_not_allowed(&self.endpoints[*matched.value], req);
        }
        match &self.fallback {
            Some(h) => h.call_in_place(slot),
            None => text(StatusCode::NOT_FOUND, format!("not found: {}\n", req.path())),
        }
    }
}

#[cold]
#[inline(never)]
fn method_not_allowed(ep: &Endpoint, req: &Request) -> Response {
    let mut res = if req.method() == Method::OPTIONS {
        let mut r = Response::new(Default::default());
        *r.status_mut() = StatusCode::NO_CONTENT;
        r
    } else {
        text(StatusCode::METHOD_NOT_ALLOWED, format!("method not allowed: {} {}\n", req.method(), req.path()))
    };
    res.headers_mut().insert(header::ALLOW, ep.allow.clone());
    res
}

#[inline(never)]
fn decode_params(ep: &Endpoint, params: &matchit::Params<'_, '_>) -> Params {
    let names = if params.len() == ep.names.len() && params.iter().zip(ep.names.iter()).all(|((k, _), n)| k == &**n) {
        ep.names.clone()
    } else {
        // Our pattern parser disagrees with matchit: trust matchit.
        params.iter().map(|(k, _)| Box::<str>::from(k)).collect()
    };
    let mut buf = String::with_capacity(params.iter().map(|(_, v)| v.len()).sum());
    let mut ends = Vec::with_capacity(params.len());
    for (_, v) in params.iter() {
        buf.push_str(&percent_decode_path(v));
        ends.push(buf.len());
    }
    Params { names, buf, ends }
}

mod exact;
#[cfg(test)]
mod tests;
