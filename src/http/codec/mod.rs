//! Pure HTTP/1.1 wire codec (RFC 9112) for servers and clients: parsing and
//! serialising heads, and the chunked transfer coding. Nothing here does
//! I/O; everything works on byte slices and `Vec<u8>`.

pub mod chunked;
pub mod date;
pub mod request;
pub mod response;
mod reuse;

pub use chunked::{ChunkedDecoder, LAST_CHUNK, encode_chunk, encode_chunk_header};
pub use date::DateCache;
pub use request::{BodyFraming, Limits, ParseError, RequestHead, parse_request, parse_request_reusing};
pub use response::{
    CONTINUE_100, OutgoingBody, ResponseHead, ResponseOptions, WrittenHead, parse_response, write_request_head,
    write_response_head,
};
pub(crate) use response::{write_date_server, write_response_head_stamped};
pub use reuse::HeadCache;

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
