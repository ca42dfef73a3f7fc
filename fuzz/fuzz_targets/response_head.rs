//! Fuzzes the client's response head parser (`codec::parse_response`).
//!
//! The first byte of an input picks the method of the request being
//! answered (GET, HEAD, POST, CONNECT) and the limits; the rest is what the
//! server sent. Besides "no panic", every input checks that:
//! - a complete head never claims more bytes than it was given, nor more
//!   than `max_head_bytes`, and every shorter prefix of it is "incomplete";
//! - the framing follows RFC 9112 §6.3: no body for HEAD, 1xx, 204, 304 and
//!   a successful CONNECT; a close-delimited body, a `101` or a successful
//!   CONNECT never leave the connection reusable; a `Content-Length` within
//!   `max_body_bytes`;
//! - an accepted head written back onto the wire parses to the same head;
//! - every error is a 502 (a bad upstream answer is the gateway's problem).
//!
//! Run: `cargo +nightly fuzz run response_head fuzz/corpus/response_head fuzz/seeds/response_head`
//! (from the repository root; see docs/TESTING.md).
#![no_main]

use greenloop::http::codec::{BodyFraming, CodecLimits, ResponseHead, parse_response};
use http::{Method, StatusCode, Version};
use libfuzzer_sys::fuzz_target;

const SMALL: CodecLimits =
    CodecLimits { max_head_bytes: 512, max_headers: 6, max_request_line: 64, max_body_bytes: 1000 };

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, wire)) = data.split_first() else { return };
    let method = match ctl % 4 {
        0 => Method::GET,
        1 => Method::HEAD,
        2 => Method::POST,
        _ => Method::CONNECT,
    };
    let limits = if ctl & 4 == 0 { CodecLimits::default() } else { SMALL };
    match parse_response(wire, &method, &limits) {
        Ok(None) => assert!(wire.len() <= limits.max_head_bytes, "{} bytes buffered past the limit", wire.len()),
        Err(e) => assert_eq!(e.status, StatusCode::BAD_GATEWAY, "{e}"),
        Ok(Some((head, n))) => {
            assert!(n > 0 && n <= wire.len(), "consumed {n} of {}", wire.len());
            assert!(n <= limits.max_head_bytes, "head of {n} bytes accepted over max_head_bytes");
            check_head(&head, &method, &limits);
            let line = status_line(wire);
            assert!(line.len() <= limits.max_request_line, "status line of {} bytes accepted", line.len());
            for k in (0..n).step_by((n / 64).max(1)).chain([n - 1]) {
                match parse_response(&wire[..k], &method, &limits) {
                    Ok(None) => {}
                    other => panic!("prefix of {k} of a {n}-byte head gave {other:?}"),
                }
            }
            check_reencodes(&head, &method, &limits);
        }
    }
});

/// The status line (without CRLF) after any leading empty lines.
fn status_line(wire: &[u8]) -> &[u8] {
    let mut rest = wire;
    while let [b'\r', b'\n', r @ ..] | [b'\n', r @ ..] = rest {
        rest = r;
    }
    let line = &rest[..rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len())];
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn check_head(head: &ResponseHead, method: &Method, limits: &CodecLimits) {
    let p = &head.parts;
    let code = p.status.as_u16();
    assert!((100..1000).contains(&code));
    assert!(p.version == Version::HTTP_10 || p.version == Version::HTTP_11, "version {:?}", p.version);
    assert!(p.headers.len() <= limits.max_headers);
    let bodiless = *method == Method::HEAD
        || p.status.is_informational()
        || code == 204
        || code == 304
        || (*method == Method::CONNECT && p.status.is_success());
    if bodiless {
        assert_eq!(head.framing, BodyFraming::None, "a body where there can be none");
    } else {
        assert_ne!(head.framing, BodyFraming::None, "a response that may have a body has no framing");
    }
    match head.framing {
        BodyFraming::UntilClose => assert!(!head.keep_alive, "close-delimited body on a reusable connection"),
        BodyFraming::Length(n) => assert!(n <= limits.max_body_bytes),
        BodyFraming::Chunked => assert_eq!(p.version, Version::HTTP_11, "chunked HTTP/1.0 response"),
        BodyFraming::None => {}
    }
    // Any 2xx to CONNECT starts a tunnel, a 204 included.
    if code == 101 || (*method == Method::CONNECT && p.status.is_success()) {
        assert!(!head.keep_alive, "the connection is no longer HTTP after {code}");
    }
}

fn check_reencodes(head: &ResponseHead, method: &Method, limits: &CodecLimits) {
    let p = &head.parts;
    let mut wire = Vec::new();
    wire.extend_from_slice(if p.version == Version::HTTP_10 { b"HTTP/1.0 " } else { b"HTTP/1.1 " });
    wire.extend_from_slice(p.status.as_str().as_bytes());
    wire.extend_from_slice(b" R\r\n");
    for (name, value) in &p.headers {
        wire.extend_from_slice(name.as_str().as_bytes());
        wire.extend_from_slice(b": ");
        wire.extend_from_slice(value.as_bytes());
        wire.extend_from_slice(b"\r\n");
    }
    wire.extend_from_slice(b"\r\n");
    let roomy = CodecLimits { max_head_bytes: wire.len().max(limits.max_head_bytes), ..*limits };
    match parse_response(&wire, method, &roomy) {
        Ok(Some((again, n))) => {
            assert_eq!(n, wire.len());
            assert_eq!(again.parts.status, p.status);
            assert_eq!(again.parts.version, p.version);
            assert_eq!(again.parts.headers, p.headers);
            assert_eq!(again.framing, head.framing);
            assert_eq!(again.keep_alive, head.keep_alive);
        }
        other => panic!("re-encoded head {:?} gave {other:?}", String::from_utf8_lossy(&wire)),
    }
}
