//! Built-in middleware: plain [`Middleware`](super::Middleware) impls, added
//! with [`App::wrap`](super::App::wrap).
//!
//! ```
//! use greenloop::http::middleware::{AccessLog, Timing};
//! use greenloop::http::{App, Request, Router, get};
//!
//! let app = App::new(Router::new().route("/", get(|_req: Request| "hi")))
//!     .wrap(AccessLog::new().trust_proxy([127, 0, 0, 1]))
//!     .wrap(Timing);
//! # drop(app);
//! ```

mod access_log;
#[cfg(feature = "compression")]
mod compression;
mod cors;
mod request_id;
mod timing;
#[cfg(feature = "tracing")]
mod trace;

pub use super::log_sink::LineSink;
pub use access_log::AccessLog;
#[cfg(feature = "compression")]
pub use compression::Compression;
pub use cors::Cors;
pub use request_id::{RequestId, RequestIds, X_REQUEST_ID};
pub use timing::Timing;
#[cfg(feature = "tracing")]
pub use trace::Trace;
