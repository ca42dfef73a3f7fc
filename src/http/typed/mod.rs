//! Typed handler input and output: request bodies, query strings, forms and
//! route parameters read into your own types, and responses built from
//! them ([`Json`], [`Html`], [`Redirect`], status/header tuples).
//!
//! Handlers stay plain blocking functions: input is read by calling methods
//! of [`TypedRequest`] on the request, in the order the handler needs, and
//! a failure is a [`Rejection`] (a 4xx with the reason) that `?` returns.
//!
#![cfg_attr(feature = "json", doc = "```")]
#![cfg_attr(not(feature = "json"), doc = "```ignore")]
//! use greenloop::http::{Json, Rejection, Request, StatusCode, TypedRequest};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Deserialize)]
//! struct NewItem { name: String }
//! #[derive(Deserialize)]
//! struct Opts { dry_run: Option<bool> }
//! #[derive(Serialize)]
//! struct Item { id: u64, list: u64, name: String }
//!
//! // POST /lists/{list}/items?dry_run=true  {"name":"milk"}
//! fn add(mut req: Request) -> Result<(StatusCode, Json<Item>), Rejection> {
//!     let list: u64 = req.param_as("list")?;
//!     let opts: Opts = req.query_as()?;
//!     let new: NewItem = req.json()?;
//!     let status = if opts.dry_run == Some(true) { StatusCode::OK } else { StatusCode::CREATED };
//!     Ok((status, Json(Item { id: 1, list, name: new.name })))
//! }
//! # let _ = greenloop::http::Router::new().route("/lists/{list}/items", greenloop::http::post(add));
//! ```
//!
//! # Why methods on the request, not extractor arguments
//! axum and actix-web take typed inputs as handler arguments (`Json<T>`,
//! `Query<T>`, `Path<T>`), which needs one handler trait per arity and a
//! framework deciding, before the handler runs, what a failure answers. In
//! a blocking handler the plain sequence reads as well and does more: the
//! handler reads what it needs in the order it needs it (the route
//! parameter before a database lookup, the body only once the lookup said
//! yes), can turn any one failure into its own answer with `match`, and
//! forwards the rest with `?`. One `use` of [`TypedRequest`] is all it takes;
//! every handler signature stays `Fn(Request) -> impl IntoResponse`.
//!
//! # Which status a bad input gets
//! | input | problem | status |
//! |---|---|---|
//! | any body | `Content-Type` missing or not the expected one | 415 |
//! | any body | longer than the limit ([`BodyLimit`], default 2 MiB) | 413 |
//! | JSON body | not JSON (syntax error, cut short): the reason names line and column | 400 |
//! | JSON body | well-formed JSON of the wrong shape (missing field, wrong type) | 422 |
//! | form body | does not fit the type | 422 |
//! | query string | does not fit the type | 400 |
//! | route parameter | does not parse as the type | 400 |
//!
//! 422 for well-formed input of the wrong shape, as axum does: the client
//! learns that its syntax is fine and its data is not (a missing or
//! mistyped field), which a 400 does not tell apart from a broken encoder.
//! A query string is part of the URL, and a URL that does not fit is a
//! 400, like a route parameter that does not parse.

#[cfg(feature = "json")]
mod json;
mod output;
mod rejection;
mod request;

#[cfg(feature = "json")]
pub use json::Json;
pub use output::{Html, Redirect};
pub use rejection::Rejection;
pub(crate) use request::unsupported;
pub use request::{BodyLimit, DEFAULT_BODY_LIMIT, TypedRequest};
