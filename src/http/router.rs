//! Routing (STUB: to be written).
use super::{Handler, Request, Response};

/// Route parameters.
#[derive(Clone, Debug, Default)]
pub struct Params(pub Vec<(String, String)>);

/// Handlers per method for one path.
#[derive(Default)]
pub struct MethodRouter {}

/// A router.
#[derive(Default)]
pub struct Router {}

impl Router {
    /// A new router.
    pub fn new() -> Router {
        Router {}
    }
    /// Adds a route.
    pub fn route(self, _path: &str, _m: MethodRouter) -> Router {
        self
    }
}

impl Handler for Router {
    fn call(&self, _req: Request) -> Response {
        unimplemented!()
    }
}

macro_rules! stub_method {
    ($($name:ident),*) => {$(
        /// Routes this method to `h`.
        pub fn $name(_h: impl Handler) -> MethodRouter { MethodRouter {} }
    )*};
}
stub_method!(get, post, put, delete, patch, head, any);
