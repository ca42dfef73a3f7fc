//! tower interoperability (feature `tower`): tower layers around a greenloop
//! [`App`](crate::http::App), and tower services (an axum `Router`) mounted
//! as greenloop handlers.
//!
//! Both directions meet at [`block_on`](crate::block_on): a tower service's
//! future runs on the request's green thread, which parks while it waits,
//! so the green model holds (thousands of slow calls on one worker). With
//! the `tokio` feature, services that await tokio timers or sockets work too.
//!
//! - [`App::layer`](crate::http::App::layer) puts an App under any
//!   [`tower_layer::Layer`]: tower-http's CORS, timeouts, compression,
//!   request ids, tracing; [`wrap`] does the same for one handler, to
//!   layer a single route.
//! - [`service`] makes any tower service of HTTP requests a handler, to
//!   mount on a route (`"/api/{*rest}"` with
//!   [`strip_prefix`](TowerHandler::strip_prefix)) or as the router's
//!   fallback.
//!
//! Moving an axum application over one route at a time: serve the axum
//! `Router` as the fallback of a greenloop `Router`, then add greenloop
//! routes (blocking handlers) for the paths moved; every other path still
//! reaches axum unchanged.
//!
//! ```
//! # #[cfg(feature = "tower")] {
//! use greenloop::http::tower::service;
//! use greenloop::http::{Request, Router, get};
//!
//! # let axum_router = tower::service_fn(|_req: http::Request<greenloop::http::tower::TowerBody>| async {
//! #     Ok::<_, std::convert::Infallible>(http::Response::new(String::new()))
//! # });
//! let app = Router::new()
//!     .route("/reports/{id}", get(|_req: Request| "moved to greenloop"))
//!     .fallback(service(axum_router));
//! # drop(app);
//! # }
//! ```
//!
//! Bodies: a request body reaches tower as a [`TowerBody`] and a response
//! body comes back as a [`ResponseBody`](crate::http::ResponseBody) streamed
//! as the service produces it ([`into_response_body`]); the other way an
//! App's answer is a [`GreenResponseBody`]. Where a blocking read or write
//! must feed a poll, a small green thread does it through a one-chunk pipe,
//! only as the other side asks.

mod layer;
mod pipe;
mod request_body;
mod response_body;
mod service;

pub use layer::{AppFuture, AppService, Layered, wrap};
pub use request_body::TowerBody;
pub use response_body::{GreenResponseBody, into_response_body};
pub use service::{TowerHandler, service};

/// The error type tower and tower-http use between layers.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
