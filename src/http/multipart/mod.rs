//! `multipart/form-data` uploads, read part by part as they arrive: a file
//! of any size passes through a buffer of about 64 KiB, never whole in
//! memory unless the handler keeps it.
//!
//! ```
//! use std::io::Read;
//! use greenloop::http::multipart::Multipart;
//! use greenloop::http::{Rejection, Request};
//!
//! fn upload(mut req: Request) -> Result<String, Rejection> {
//!     let mut form = Multipart::from_request(&mut req)?.max_part_bytes(50 << 20).max_parts(10);
//!     let mut out = String::new();
//!     while let Some(mut part) = form.next_part()? {
//!         let (name, file) = (part.name().to_string(), part.filename().map(str::to_string));
//!         let mut buf = [0u8; 16 * 1024];
//!         let mut size = 0;
//!         loop {
//!             let n = part.read(&mut buf)?; // parks while the upload is in flight
//!             if n == 0 { break; }
//!             size += n; // hash it, write it to disk...
//!         }
//!         out += &format!("{name} {file:?} {size}\n");
//!     }
//!     Ok(out)
//! }
//! # let _ = greenloop::http::Router::new().route("/upload", greenloop::http::post(upload));
//! ```
//!
//! # Why a parser of our own
//! The well-known Rust parser, `multer`, is async: it takes a `Stream` of
//! `Bytes`, so using it here means `block_on` around every step, an adapter
//! from the blocking [`Body`](super::Body) to a stream, and the `bytes`,
//! `futures` and `http-body` crates on top. The format itself is small: find
//! `CRLF--boundary` (with `memchr`'s SIMD substring search), read the part's
//! headers (with `httparse`, already parsing the request heads), repeat.
//! What takes care is the streaming: a delimiter split across two reads
//! (the last `boundary + 3` bytes of the buffer are held back until the
//! next read says whether they start one), and limits checked as bytes
//! arrive. Both have tests of their own, byte-by-byte reads included.
//!
//! # Bad input
//! Every failure is a [`Rejection`](super::Rejection) (through `?`) or, from [`Part`]'s
//! `Read`, an `io::Error` carrying its status that converts to one:
//! - 415: the request is not `multipart/form-data`;
//! - 400: no boundary parameter, a part without `Content-Disposition:
//!   form-data; name=...`, malformed part headers, the body ending before
//!   the closing boundary (truncated upload);
//! - 413: more parts than [`max_parts`](Multipart::max_parts), a part over
//!   [`max_part_bytes`](Multipart::max_part_bytes), the body over
//!   [`max_total_bytes`](Multipart::max_total_bytes).

mod disposition;
mod parser;

pub use parser::{Multipart, Part};
