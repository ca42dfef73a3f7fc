//! Pure HTTP/1.1 wire codec (RFC 9112) for servers and clients: parsing and
//! serialising heads, and the chunked transfer coding. Nothing here does
//! I/O; everything works on byte slices and `Vec<u8>`.
//!
//! Not covered by semver: public only for the benchmarks, and may change in
//! any release.
//!
//! Split by role and direction: `server.rs` parses requests and writes
//! responses, `client.rs` writes requests and parses responses, `head.rs`
//! holds what both share (errors, framing, field parsing), `body.rs` the
//! body decoder of both roles; `raw_head.rs` a request head kept as received,
//! `common_head.rs` the common request head in one pass, `limits.rs`, `chunked.rs`,
//! `date.rs` and `ok_head.rs` one job each.

mod body;
pub mod chunked;
mod client;
mod common_head;
pub mod date;
mod head;
mod limits;
mod ok_head;
mod raw_head;
mod server;
pub(crate) mod words;

pub use body::BodyDecoder;
pub use chunked::{ChunkedDecoder, LAST_CHUNK, encode_chunk, encode_chunk_header};
pub use client::{ResponseHead, parse_response, write_request_head};
pub use date::DateCache;
pub use head::{BodyFraming, OutgoingBody, ParseError};
pub use limits::{CodecLimits, STACK_HEADERS};
pub(crate) use ok_head::OkHead;
pub use raw_head::RawHead;
pub use server::{
    CONTINUE_100, RequestHead, ResponseOptions, WrittenHead, parse_request, parse_request_general, write_response_head,
};
pub(crate) use server::{HeadFields, write_date_server, write_response_head_stamped};

/// Deterministic pseudo-random byte strings (xorshift) for no-panic tests.
#[cfg(test)]
pub(crate) fn noise(seed: u32, alphabet: &[u8], max_len: u32, count: usize) -> impl Iterator<Item = Vec<u8>> + '_ {
    let mut x = seed;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        x
    };
    (0..count).map(move |_| {
        let len = next() % max_len;
        (0..len).map(|_| alphabet[next() as usize % alphabet.len()]).collect()
    })
}
