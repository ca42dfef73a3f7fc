//! Fuzzes the server's request head parser (`codec::parse_request`) on
//! arbitrary bytes read as one connection's stream of pipelined requests.
//!
//! Besides "no panic", every input checks that:
//! - a complete head never claims more bytes than it was given, nor more
//!   than `max_head_bytes`, and every shorter prefix of it is "incomplete"
//!   (a head is never accepted or rejected before its last byte arrived);
//! - what it accepts is well formed (HTTP/1.0 or 1.1, one `Host` in 1.1,
//!   a `Content-Length` within `max_body_bytes`, no 100-continue in 1.0);
//! - an accepted head written back onto the wire parses to the same head;
//! - the one-pass reading of common heads gives exactly what httparse
//!   alone gives (`parse_request_general`), head after head;
//! - the head read where it arrived (`RawHead`: path, query, fields) says
//!   exactly what the owned `Uri` and `HeaderMap` built from it say, and
//!   building them never drops a field;
//! - errors carry a status a server may answer with (4xx or 5xx).
//!
//! Run: `cargo +nightly fuzz run request_head fuzz/corpus/request_head fuzz/seeds/request_head`
//! (from the repository root; see docs/TESTING.md).
#![no_main]

use greenloop::http::codec::{BodyFraming, CodecLimits, ParseError, RequestHead, parse_request, parse_request_general};
use http::Version;
use libfuzzer_sys::fuzz_target;

/// Small limits, so that inputs the fuzzer can reach also hit every limit.
const SMALL: CodecLimits =
    CodecLimits { max_head_bytes: 512, max_headers: 6, max_request_line: 96, max_body_bytes: 1000 };

fuzz_target!(|data: &[u8]| {
    for limits in [CodecLimits::default(), SMALL, CodecLimits { max_headers: 40, ..SMALL }] {
        connection(data, &limits);
    }
});

/// Parses `data` as the bytes of one connection: head after head (skipping
/// a `Content-Length` body).
fn connection(data: &[u8], limits: &CodecLimits) {
    let mut pos = 0;
    for _ in 0..8 {
        let buf = &data[pos..];
        let parsed = parse_request(buf, limits);
        same_result(&parsed, &parse_request_general(buf, limits));
        match parsed {
            Ok(None) => {
                check_start_line_bound(buf, limits);
                return;
            }
            Err(e) => {
                check_error(&e);
                return;
            }
            Ok(Some((head, n))) => {
                assert!(n > 0 && n <= buf.len(), "consumed {n} of {}", buf.len());
                assert!(n <= limits.max_head_bytes, "head of {n} bytes accepted over max_head_bytes");
                check_head(&head, limits);
                check_views(&head);
                check_prefixes(&buf[..n], limits);
                check_reencodes(&head, limits);
                let body = match head.framing {
                    BodyFraming::Length(len) => len.min((buf.len() - n) as u64) as usize,
                    _ => 0,
                };
                pos += n + body;
            }
        }
    }
}

fn same_result(
    a: &Result<Option<(RequestHead, usize)>, ParseError>,
    b: &Result<Option<(RequestHead, usize)>, ParseError>,
) {
    match (a, b) {
        (Ok(Some((ha, na))), Ok(Some((hb, nb)))) => {
            assert_eq!(na, nb, "consumed differs from httparse's");
            same_head(ha, hb, "from httparse's");
            let fields = |h: &RequestHead| h.raw.fields().map(|(n, v)| (n.to_string(), v.to_vec())).collect::<Vec<_>>();
            assert_eq!(fields(ha), fields(hb), "fields as received differ from httparse's");
            assert_eq!(ha.raw.target(), hb.raw.target(), "target as received differs from httparse's");
        }
        (Ok(None), Ok(None)) => {}
        (Err(ea), Err(eb)) => assert_eq!(ea, eb, "error differs from httparse's"),
        _ => panic!("the common-head pass changes the outcome: {a:?} vs {b:?}"),
    }
}

/// The head as received and the owned types built from it agree.
fn check_views(head: &RequestHead) {
    let raw = &head.raw;
    let headers = head.headers();
    assert_eq!(headers.len(), raw.fields().len(), "a field was dropped building the HeaderMap");
    for (name, value) in raw.fields() {
        let first = headers.get(name).map(|v| v.as_bytes());
        assert_eq!(raw.get(name), first, "field {name:?}");
        assert!(headers.get_all(name).iter().any(|v| v.as_bytes() == value), "value of {name:?}");
    }
    let uri = head.uri();
    if raw.other_form().is_none() {
        assert_eq!(uri.path(), raw.path(), "path");
        assert_eq!(uri.query(), raw.query(), "query");
        assert_eq!(uri.to_string(), raw.target(), "target");
    }
}

fn same_head(a: &RequestHead, b: &RequestHead, what: &str) {
    assert_eq!(a.method, b.method, "method {what}");
    assert_eq!(a.uri(), b.uri(), "target {what}");
    assert_eq!(a.uri().to_string(), b.uri().to_string(), "target text {what}");
    assert_eq!(a.version, b.version, "version {what}");
    assert_eq!(a.headers(), b.headers(), "header fields {what}");
    assert_eq!(a.framing, b.framing, "framing {what}");
    assert_eq!(a.keep_alive, b.keep_alive, "keep-alive {what}");
    assert_eq!(a.expect_continue, b.expect_continue, "expect-continue {what}");
}

fn check_head(head: &RequestHead, limits: &CodecLimits) {
    let headers = head.headers();
    assert!(head.version == Version::HTTP_10 || head.version == Version::HTTP_11, "version {:?}", head.version);
    let hosts = headers.get_all(http::header::HOST).iter().count();
    if head.version == Version::HTTP_11 {
        assert_eq!(hosts, 1, "an HTTP/1.1 head needs exactly one Host");
    } else {
        assert!(hosts <= 1, "duplicate Host accepted");
        assert!(!head.expect_continue, "100-continue promised to an HTTP/1.0 client");
        assert!(head.framing != BodyFraming::Chunked, "chunked HTTP/1.0 request accepted");
    }
    assert!(headers.len() <= limits.max_headers, "{} fields over max_headers", headers.len());
    match head.framing {
        BodyFraming::Length(n) => assert!(n <= limits.max_body_bytes, "Content-Length {n} over max_body_bytes"),
        BodyFraming::UntilClose => panic!("a request body cannot be close-delimited"),
        BodyFraming::None | BodyFraming::Chunked => {}
    }
    if head.framing == BodyFraming::Chunked {
        assert!(!headers.contains_key(http::header::CONTENT_LENGTH), "both Content-Length and chunked");
    }
}

/// No prefix of a complete head is itself complete or rejected: the
/// decision waits for the head's last byte, whatever the read sizes.
fn check_prefixes(head: &[u8], limits: &CodecLimits) {
    let n = head.len();
    // Every prefix for short heads; a spread of them for long ones.
    let step = (n / 64).max(1);
    for k in (0..n).step_by(step).chain([n - 1]) {
        match parse_request(&head[..k], limits) {
            Ok(None) => {}
            other => panic!("prefix of {k} of a {n}-byte head gave {other:?}"),
        }
    }
}

/// An incomplete head is only left incomplete while its request line can
/// still fit the limit.
fn check_start_line_bound(buf: &[u8], limits: &CodecLimits) {
    assert!(buf.len() <= limits.max_head_bytes, "{} bytes buffered past max_head_bytes", buf.len());
    let mut start = 0;
    loop {
        match &buf[start..] {
            [b'\r', b'\n', ..] => start += 2,
            [b'\n', ..] => start += 1,
            _ => break,
        }
    }
    let line = &buf[start..];
    if !line.contains(&b'\n') {
        // The whole rest is one unfinished line, maybe ending in the CR of its CRLF.
        let len = line.len() - usize::from(line.last() == Some(&b'\r'));
        assert!(len <= limits.max_request_line, "unfinished request line of {len} bytes still waiting");
    }
}

fn check_error(e: &ParseError) {
    let s = e.status.as_u16();
    assert!((400..600).contains(&s), "error status {s}");
    assert!(!e.reason.is_empty());
}

/// Writes the parsed head back as a request and parses it again.
fn check_reencodes(head: &RequestHead, limits: &CodecLimits) {
    let mut wire = Vec::new();
    wire.extend_from_slice(head.method.as_str().as_bytes());
    wire.push(b' ');
    wire.extend_from_slice(head.uri().to_string().as_bytes());
    wire.extend_from_slice(if head.version == Version::HTTP_10 { b" HTTP/1.0\r\n" } else { b" HTTP/1.1\r\n" });
    for (name, value) in &head.headers() {
        wire.extend_from_slice(name.as_str().as_bytes());
        wire.extend_from_slice(b": ");
        wire.extend_from_slice(value.as_bytes());
        wire.extend_from_slice(b"\r\n");
    }
    wire.extend_from_slice(b"\r\n");
    // The canonical form may be longer than the original (": " after each
    // name, "/" added to an empty path): allow for it.
    let roomy = CodecLimits {
        max_head_bytes: wire.len().max(limits.max_head_bytes),
        max_request_line: wire.len().max(limits.max_request_line),
        ..*limits
    };
    match parse_request(&wire, &roomy) {
        Ok(Some((again, n))) => {
            assert_eq!(n, wire.len(), "re-encoded head not consumed whole");
            same_head(head, &again, "after re-encoding");
        }
        other => panic!("re-encoded head {:?} gave {other:?}", String::from_utf8_lossy(&wire)),
    }
}
