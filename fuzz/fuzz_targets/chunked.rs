//! Fuzzes the incremental chunked-body decoder (`codec::ChunkedDecoder`).
//!
//! The first four bytes of an input choose the body limit, how the rest is
//! cut into reads and how large the output buffers are; the rest is the
//! wire bytes. Besides "no panic", every input checks that:
//! - a call never consumes more than it was given, nor writes more than its
//!   output buffer holds, and always makes progress while it can;
//! - the body never holds more bytes than the framing consumed, nor more than
//!   the announced chunk sizes (`body_bytes`), nor more than the limit;
//! - nothing past the end of the body is consumed (the next pipelined
//!   request stays in the buffer);
//! - decoding in arbitrary pieces gives the same body, the same end and the
//!   same error as decoding in one piece;
//! - the encoder's output (`encode_chunk` + `LAST_CHUNK`) decodes back to
//!   the data it was given, followed by untouched bytes.
//!
//! Run: `cargo +nightly fuzz run chunked fuzz/corpus/chunked fuzz/seeds/chunked`
//! (from the repository root; see docs/TESTING.md).
#![no_main]

use greenloop::http::codec::{ChunkedDecoder, LAST_CHUNK, ParseError, encode_chunk};
use libfuzzer_sys::fuzz_target;

/// What decoding some wire bytes came to.
#[derive(Debug, PartialEq)]
struct Outcome {
    body: Vec<u8>,
    consumed: usize,
    done: bool,
    error: Option<ParseError>,
    announced: u64,
}

fuzz_target!(|data: &[u8]| {
    let Some((ctl, wire)) = data.split_first_chunk::<4>() else { return };
    let max_body = match ctl[0] % 4 {
        0 => u64::MAX,
        1 => 16 * 1024 * 1024,
        2 => u64::from(ctl[1]) * 4,
        _ => 0,
    };
    // Read sizes 1..=16 and output sizes 1..=8 (small, to cut everywhere).
    let read = usize::from(ctl[2] % 16) + 1;
    let room = usize::from(ctl[3] % 8) + 1;

    let whole = decode(wire, max_body, wire.len().max(1), wire.len().max(1));
    let pieces = decode(wire, max_body, read, room);
    assert_eq!(whole, pieces, "decoding in pieces (reads of {read}, output of {room}) differs");

    let o = &whole;
    assert!(o.consumed <= wire.len());
    assert!(o.body.len() <= o.consumed, "{} body bytes out of {} consumed", o.body.len(), o.consumed);
    assert!(o.body.len() as u64 <= o.announced, "more body than the chunk sizes announced");
    assert!(o.announced <= max_body, "chunk sizes add up past the limit without an error");
    if o.done {
        assert_eq!(o.body.len() as u64, o.announced, "a finished body is as long as its chunks");
        // The end of the body: after it the decoder takes nothing more.
        assert!(o.error.is_none());
        assert!(wire[..o.consumed].ends_with(b"\n"));
    } else if o.error.is_none() {
        assert_eq!(o.consumed, wire.len(), "stopped early with neither an end nor an error");
    }
    if let Some(e) = o.error {
        assert!(matches!(e.status.as_u16(), 400 | 413 | 431), "error status {}", e.status);
    }

    round_trip(wire, ctl[2]);
});

/// Decodes `wire` in reads of `read` bytes into output buffers of `room` bytes.
fn decode(wire: &[u8], max_body: u64, read: usize, room: usize) -> Outcome {
    let mut dec = ChunkedDecoder::new(max_body);
    let mut body = Vec::new();
    let mut out = vec![0u8; room];
    let mut pos = 0; // consumed
    let mut avail = 0; // bytes "arrived" so far
    let mut error = None;
    while !dec.is_done() {
        if pos == avail {
            if avail == wire.len() {
                break;
            }
            avail = (avail + read).min(wire.len());
        }
        let input = &wire[pos..avail];
        match dec.decode(input, &mut out) {
            Ok((used, wrote)) => {
                assert!(used <= input.len(), "consumed {used} of {}", input.len());
                assert!(wrote <= out.len());
                assert!(used > 0 || wrote > 0 || dec.is_done(), "no progress on {} bytes", input.len());
                body.extend_from_slice(&out[..wrote]);
                pos += used;
            }
            Err(e) => {
                error = Some(e);
                break;
            }
        }
    }
    if dec.is_done() {
        // Done is final: more input is left alone.
        assert_eq!(dec.decode(b"0\r\n\r\n", &mut out), Ok((0, 0)));
    }
    match error {
        // Where an error struck, and what came before it, is not part of the
        // outcome: the caller answers with the error and closes.
        Some(e) => Outcome { body: Vec::new(), consumed: 0, done: false, error: Some(e), announced: 0 },
        None => Outcome { body, consumed: pos, done: dec.is_done(), error: None, announced: dec.body_bytes() },
    }
}

/// The encoder's chunks decode back to the data, and what follows the last
/// chunk (a pipelined request) is not consumed.
fn round_trip(data: &[u8], cut: u8) {
    let size = usize::from(cut % 32) + 1;
    let mut wire = Vec::new();
    for piece in data.chunks(size) {
        encode_chunk(piece, &mut wire);
    }
    wire.extend_from_slice(LAST_CHUNK);
    let end = wire.len();
    wire.extend_from_slice(b"GET / HTTP/1.1\r\n");
    let o = decode(&wire, data.len() as u64, 7, 5);
    assert_eq!(o.error, None, "encoder output rejected");
    assert!(o.done);
    assert_eq!(o.consumed, end, "decoder consumed past the end of the body");
    assert_eq!(o.body, data, "round trip changed the data");
}
