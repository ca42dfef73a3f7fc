//! An HTTP/1.1 server on green threads, built only on the runtime's public API.
//!
//! A handler is a plain function from [`Request`] to something that is
//! [`IntoResponse`]. It runs on the connection's green thread and may sleep,
//! read sockets, call other services or wait on locks: thousands run at once
//! on one OS thread.
//!
//! ```no_run
//! use greenloop::http::{Request, Router, Server, get};
//!
//! fn hello(_req: Request) -> &'static str {
//!     greenloop::sleep(std::time::Duration::from_millis(100)); // parks, never blocks
//!     "Hello, World!"
//! }
//!
//! Server::bind("127.0.0.1:8000").serve(Router::new().route("/", get(hello))).unwrap();
//! ```
//!
//! [`Request`] and [`Response`] read like `http::Request<Body>` and
//! `http::Response<ResponseBody>`, as in hyper, axum and reqwest (the same
//! method names, conversions both ways). Underneath, the request keeps its
//! head as it arrived, building `http`'s `Uri` and `HeaderMap` only for a
//! handler that asks for them, and a response makes its `HeaderMap` only
//! when some code adds or reads a field: `"text"`, `Json(v)` or `Html(s)`
//! carry their `Content-Type` alone, written as the head is.

#[cfg(any(feature = "static-files", feature = "compression"))]
mod accept_encoding;
mod body;
mod body_error;
pub mod client;
#[doc(hidden)] // not covered by semver; used by the benchmarks
pub mod codec;
mod conn;
#[cfg(feature = "cookies")]
pub mod cookies;
pub mod debug;
mod handler;
mod log_sink;
pub mod metrics;
pub mod middleware;
pub mod multipart;
mod query;
mod read_buf;
mod request;
mod request_ext;
mod response;
mod router;
mod server;
pub mod sse;
#[cfg(feature = "static-files")]
mod static_files;
mod thread_dump;
#[cfg(feature = "tls")]
pub mod tls;
#[cfg(feature = "tower")]
pub mod tower;
pub mod typed;
pub mod upgrade;
#[cfg(feature = "ws")]
pub mod ws;

pub use body::Body;
pub use client::Client;
pub use conn::serving::shutting_down;
pub use handler::{App, Handler, Middleware, Next};
/// The former path of [`middleware::LineSink`].
#[deprecated(
    since = "0.2.0",
    note = "moved to `greenloop::http::middleware::LineSink`, beside the access log that writes through it"
)]
pub type LineSink = log_sink::LineSink;
pub use query::{percent_decode, query_pairs};
pub use request::{HeaderValues, Request, RequestBuilder};
pub use request_ext::{ConnInfo, RequestExt};
pub use response::{IntoResponse, Response, ResponseBody, ResponseBuilder};
pub use router::{MethodRouter, Params, Router, any, delete, get, head, on, options, patch, post, put};
pub use server::{Limits, RunningServer, Server, ShutdownHandle, worker_id, worker_state};
#[cfg(feature = "static-files")]
pub use static_files::ServeDir;
#[cfg(feature = "json")]
pub use typed::Json;
pub use typed::{BodyLimit, Html, Redirect, Rejection, TypedRequest};

pub use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, Version, header};
