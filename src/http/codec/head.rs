//! What both roles share: [`ParseError`], the body framings
//! ([`BodyFraming`], [`OutgoingBody`]), start-line checks, header-field
//! parsing (`HeaderInfo`, `build_headers`) and the field writers.

use std::fmt;

use http::StatusCode;
use http::header::{HeaderMap, HeaderName, HeaderValue};

use super::words::{half, word};

pub(super) const TOO_MANY_HEADERS: ParseError =
    ParseError::new(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE, "too many headers");

/// How the body following a head is delimited on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    /// No body at all.
    None,
    /// Exactly this many bytes follow (`Content-Length`; may be 0).
    Length(u64),
    /// A chunked body follows; decode it with
    /// [`ChunkedDecoder`](super::chunked::ChunkedDecoder).
    Chunked,
    /// The body runs until the peer closes the connection (responses only,
    /// or an HTTP/1.0 response we send with a streamed body). The
    /// connection cannot be reused afterwards.
    UntilClose,
}

/// What the sender intends to send after a head it is writing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutgoingBody {
    /// No body (a response gets `Content-Length: 0` where a body is allowed).
    Empty,
    /// Exactly this many bytes.
    Length(u64),
    /// A body of unknown length, streamed. Sent chunked to HTTP/1.1 peers;
    /// to an HTTP/1.0 client it is sent raw and ended by closing.
    Chunked,
}

/// Why a head or body could not be parsed. After any such error the
/// connection's framing can no longer be trusted: answer with `status`
/// (with `Connection: close`) and close.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseError {
    /// The status code a server should respond with.
    pub status: StatusCode,
    /// A short, human-readable reason.
    pub reason: &'static str,
}

impl ParseError {
    /// Builds an error from a status and a reason.
    pub const fn new(status: StatusCode, reason: &'static str) -> Self {
        ParseError { status, reason }
    }

    pub(super) const fn bad(reason: &'static str) -> Self {
        ParseError::new(StatusCode::BAD_REQUEST, reason)
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status.as_u16(), self.reason)
    }
}

impl std::error::Error for ParseError {}

pub(super) fn uri_too_long(is_request: bool) -> ParseError {
    if is_request {
        ParseError::new(StatusCode::URI_TOO_LONG, "request line too long")
    } else {
        ParseError::new(StatusCode::BAD_GATEWAY, "status line too long")
    }
}

/// Index of the first byte after leading empty lines (CRLF or bare LF).
pub(super) fn skip_empty_lines(buf: &[u8]) -> usize {
    let mut i = 0;
    loop {
        match buf.get(i..) {
            Some([b'\r', b'\n', ..]) => i += 2,
            Some([b'\n', ..]) => i += 1,
            _ => return i,
        }
    }
}

/// Rejects a start line longer than `max` (checked on incomplete or
/// malformed input, where httparse gave us no parsed line).
pub(super) fn check_start_line_len(buf: &[u8], max: usize, is_request: bool) -> Result<(), ParseError> {
    let start = skip_empty_lines(buf);
    let rest = &buf[start..];
    // Look at most max+2 bytes ahead (line + CRLF).
    let look = &rest[..rest.len().min(max.saturating_add(2))];
    let line_len = match memchr::memchr(b'\n', look) {
        Some(i) if i > 0 && look[i - 1] == b'\r' => i - 1,
        Some(i) => i,
        // A trailing CR may be the first half of the line's CRLF.
        None => rest.len() - usize::from(rest.last() == Some(&b'\r')),
    };
    if line_len > max {
        return Err(uri_too_long(is_request));
    }
    Ok(())
}

/// Translates an httparse error, using the raw buffer to tell a
/// well-formed but unsupported version (505) from garbage (400).
pub(super) fn map_httparse_error(e: httparse::Error, buf: &[u8], is_request: bool) -> ParseError {
    let reason = match e {
        httparse::Error::TooManyHeaders => {
            return if is_request {
                TOO_MANY_HEADERS
            } else {
                ParseError::new(StatusCode::BAD_GATEWAY, "too many headers")
            };
        }
        httparse::Error::Version => {
            if is_request && request_line_has_other_version(buf) {
                return ParseError::new(StatusCode::HTTP_VERSION_NOT_SUPPORTED, "HTTP version not supported");
            }
            "invalid HTTP version"
        }
        httparse::Error::HeaderName => "invalid header name",
        httparse::Error::HeaderValue => "invalid header value",
        httparse::Error::NewLine => "invalid line ending",
        httparse::Error::Status => "invalid status line",
        httparse::Error::Token => {
            if is_request {
                "invalid request line"
            } else {
                "invalid token"
            }
        }
    };
    if is_request { ParseError::bad(reason) } else { ParseError::new(StatusCode::BAD_GATEWAY, reason) }
}

/// Is the (possibly incomplete) request line well formed but for its
/// version: `method SP request-target SP HTTP/d.d`, one space apart, with a
/// token for the method? Only such a line is answered 505 when the version
/// is not 1.x; anything else malformed (`GE T / HTTP/1.1`, two spaces, no
/// target) is a 400, whatever it ends with.
pub(super) fn request_line_has_other_version(buf: &[u8]) -> bool {
    let rest = &buf[skip_empty_lines(buf)..];
    let (line, complete) = match memchr::memchr(b'\n', rest) {
        Some(i) => (&rest[..i], true),
        None => (rest, false),
    };
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let mut parts = line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let method_ok = !method.is_empty() && method.iter().all(|&b| is_tchar(b));
    let target_ok = !target.is_empty() && target.iter().all(|&b| b > b' ' && b != 0x7f);
    let Some([major, minor @ ..]) = version.strip_prefix(b"HTTP/") else {
        return false;
    };
    // `.d` after the major digit; an incomplete line may stop anywhere in it.
    let minor_ok = match minor {
        [b'.', d] => d.is_ascii_digit(),
        [] | [b'.'] => !complete,
        _ => false,
    };
    method_ok && target_ok && major.is_ascii_digit() && minor_ok
}

/// RFC 9110 `tchar`: the bytes of a method or a field name.
fn is_tchar(b: u8) -> bool {
    matches!(b,
        b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.' | b'^' | b'_'
        | b'`' | b'|' | b'~' | b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z')
}

/// Facts gathered from the header fields in one pass.
#[derive(Default)]
pub(super) struct HeaderInfo {
    pub(super) content_length: Option<u64>,
    pub(super) has_te: bool,
    pub(super) te_chunked_seen: bool,
    pub(super) te_chunked_last: bool,
    pub(super) te_other: bool,
    pub(super) host_count: u32,
    pub(super) conn_close: bool,
    pub(super) conn_keep_alive: bool,
    pub(super) expect_continue: bool,
    pub(super) expect_other: bool,
}

/// Builds the `HeaderMap` and collects framing-related facts (a
/// response's head, for the client; the server keeps a request's fields
/// as received, see `RawHead`).
pub(super) fn build_headers(
    raw: &[httparse::Header<'_>],
    info: &mut HeaderInfo,
    is_request: bool,
) -> Result<HeaderMap, ParseError> {
    let err = |reason| {
        if is_request { ParseError::bad(reason) } else { ParseError::new(StatusCode::BAD_GATEWAY, reason) }
    };
    let mut map = HeaderMap::with_capacity(raw.len());
    for h in raw {
        let name = HeaderName::from_bytes(h.name.as_bytes()).map_err(|_| err("invalid header name"))?;
        let value = HeaderValue::from_bytes(h.value).map_err(|_| err("invalid header value"))?;
        info.note(Field::of_raw(h.name), h.value, is_request)?;
        map.append(name, value);
    }
    Ok(map)
}

/// The header fields that decide a message's framing and persistence: the
/// ones [`HeaderInfo::note`] reads.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Field {
    ContentLength,
    TransferEncoding,
    Host,
    Connection,
    Expect,
    Other,
}

impl Field {
    /// Which field `name` is, as received (any case): by length first, so
    /// most names cost one comparison, and that one a word or two at a time.
    ///
    /// `name` is a field name as both parsers accept it (token bytes), so
    /// it holds no CR (see [`folds_to`]).
    #[inline]
    pub(super) fn of_raw(name: &str) -> Field {
        let name = name.as_bytes();
        let (field, known): (Field, &[u8]) = match name.len() {
            4 => (Field::Host, b"host"),
            6 => (Field::Expect, b"expect"),
            10 => (Field::Connection, b"connection"),
            14 => (Field::ContentLength, b"content-length"),
            17 => (Field::TransferEncoding, b"transfer-encoding"),
            _ => return Field::Other,
        };
        if folds_to(name, known) { field } else { Field::Other }
    }
}

/// Case-folding mask: bit 5 of every byte.
const FOLD: u64 = 0x2020_2020_2020_2020;

/// Whether `name` is `lower` (lowercase letters and `-`, 4 bytes or more)
/// in any ASCII case, as `eq_ignore_ascii_case` says when `name` holds no
/// CR; compared 4 or 8 bytes at a time.
///
/// Setting bit 5 of a byte (`| 0x20`) lowercases an uppercase letter and
/// keeps a lowercase letter and `-` as they are. A byte it turns into the
/// letter `l` was `l` or its uppercase; one it turns into `-` (0x2D) was
/// `-` or CR (0x0D), which a field name never holds.
#[inline]
fn folds_to(name: &[u8], lower: &[u8]) -> bool {
    let n = lower.len();
    if name.len() != n || n < 4 {
        return false;
    }
    // `lower` has bit 5 set in every byte already: folding it too is free
    // (a constant) and lets a four-byte half compare as a word.
    let same = |a: u64, b: u64| a | FOLD == b | FOLD;
    if n < 8 {
        return same(half(name, 0), half(lower, 0)) && same(half(name, n - 4), half(lower, n - 4));
    }
    let mut at = 0;
    while at + 8 < n {
        if !same(word(name, at), word(lower, at)) {
            return false;
        }
        at += 8;
    }
    // The last eight bytes (overlapping the word before when `n` is not a multiple of 8).
    same(word(name, n - 8), word(lower, n - 8))
}

impl HeaderInfo {
    /// Takes in the field `field` with `value`: its part of the framing and
    /// persistence facts, or why the head is refused.
    ///
    /// Inline for the fields most heads have (any other field, `Host`);
    /// the ones with a value to read go to [`note_value`](Self::note_value).
    #[inline]
    pub(super) fn note(&mut self, field: Field, value: &[u8], is_request: bool) -> Result<(), ParseError> {
        match field {
            Field::Other => Ok(()),
            Field::Host => {
                self.host_count += 1;
                Ok(())
            }
            _ => self.note_value(field, value, is_request),
        }
    }

    /// [`note`](Self::note) for the fields whose value is read.
    #[inline(never)]
    fn note_value(&mut self, field: Field, value: &[u8], is_request: bool) -> Result<(), ParseError> {
        let err = |reason| {
            if is_request { ParseError::bad(reason) } else { ParseError::new(StatusCode::BAD_GATEWAY, reason) }
        };
        match field {
            Field::ContentLength => {
                for item in value.split(|&b| b == b',') {
                    let v = parse_content_length(trim_ows(item)).ok_or(err("invalid Content-Length"))?;
                    match self.content_length {
                        Some(prev) if prev != v => return Err(err("conflicting Content-Length")),
                        _ => self.content_length = Some(v),
                    }
                }
            }
            Field::TransferEncoding => {
                self.has_te = true;
                for item in value.split(|&b| b == b',') {
                    let coding = trim_ows(item);
                    if coding.is_empty() {
                        continue;
                    }
                    if coding.eq_ignore_ascii_case(b"chunked") {
                        if self.te_chunked_seen {
                            return Err(err("chunked applied more than once"));
                        }
                        self.te_chunked_seen = true;
                        self.te_chunked_last = true;
                    } else {
                        self.te_other = true;
                        self.te_chunked_last = false;
                    }
                }
            }
            Field::Host => self.host_count += 1,
            Field::Connection => {
                for item in value.split(|&b| b == b',') {
                    let t = trim_ows(item);
                    if t.eq_ignore_ascii_case(b"close") {
                        self.conn_close = true;
                    } else if t.eq_ignore_ascii_case(b"keep-alive") {
                        self.conn_keep_alive = true;
                    }
                }
            }
            Field::Expect => {
                if trim_ows(value).eq_ignore_ascii_case(b"100-continue") {
                    self.expect_continue = true;
                } else {
                    self.expect_other = true;
                }
            }
            Field::Other => {}
        }
        Ok(())
    }

    /// Determines body framing from Content-Length / Transfer-Encoding
    /// (RFC 9112 §6.3), rejecting ambiguous framing.
    pub(super) fn framing(&self, is_10: bool, max_body: u64, is_request: bool) -> Result<BodyFraming, ParseError> {
        let bad = |reason| {
            if is_request { ParseError::bad(reason) } else { ParseError::new(StatusCode::BAD_GATEWAY, reason) }
        };
        if self.has_te {
            if is_10 {
                return Err(bad("Transfer-Encoding in HTTP/1.0 message"));
            }
            if self.content_length.is_some() {
                return Err(bad("both Content-Length and Transfer-Encoding"));
            }
            if self.te_other {
                let status = if is_request { StatusCode::NOT_IMPLEMENTED } else { StatusCode::BAD_GATEWAY };
                return Err(ParseError::new(status, "unsupported transfer-encoding"));
            }
            if !self.te_chunked_last {
                return Err(bad("empty Transfer-Encoding"));
            }
            return Ok(BodyFraming::Chunked);
        }
        match self.content_length {
            Some(n) if n > max_body => Err(if is_request {
                ParseError::new(StatusCode::PAYLOAD_TOO_LARGE, "request body too large")
            } else {
                ParseError::new(StatusCode::BAD_GATEWAY, "response body too large")
            }),
            Some(n) => Ok(BodyFraming::Length(n)),
            None => Ok(BodyFraming::None),
        }
    }

    /// Persistence per RFC 9112 §9.3.
    pub(super) fn keep_alive(&self, is_10: bool) -> bool {
        if self.conn_close {
            false
        } else if is_10 {
            self.conn_keep_alive
        } else {
            true
        }
    }
}

/// Strips optional whitespace (SP / HTAB) from both ends.
pub(super) fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

/// `1*DIGIT` to u64; `None` on empty, non-digit, or overflow.
pub(super) fn parse_content_length(s: &[u8]) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
    }
    Some(n)
}

#[inline]
pub(super) fn write_field(name: &[u8], value: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

#[inline]
pub(super) fn write_content_length(n: u64, out: &mut Vec<u8>) {
    let mut buf = itoa::Buffer::new();
    out.extend_from_slice(b"Content-Length: ");
    out.extend_from_slice(buf.format(n).as_bytes());
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    const KNOWN: [(&str, Field); 5] = [
        ("host", Field::Host),
        ("expect", Field::Expect),
        ("connection", Field::Connection),
        ("content-length", Field::ContentLength),
        ("transfer-encoding", Field::TransferEncoding),
    ];

    #[test]
    fn a_field_is_known_in_any_case_and_only_by_its_exact_name() {
        for (name, field) in KNOWN {
            assert_eq!(Field::of_raw(name), field);
            assert_eq!(Field::of_raw(&name.to_ascii_uppercase()), field);
            let mixed: String =
                name.chars().enumerate().map(|(i, c)| if i % 2 == 0 { c.to_ascii_uppercase() } else { c }).collect();
            assert_eq!(Field::of_raw(&mixed), field, "{mixed}");
            assert_eq!(Field::of_raw(&name[1..]), Field::Other);
            assert_eq!(Field::of_raw(&format!("{name}x")), Field::Other);
        }
        assert_eq!(Field::of_raw(""), Field::Other);
        assert_eq!(Field::of_raw("x-host"), Field::Other);
    }

    /// Every byte but CR, at every position of every known name, against
    /// `eq_ignore_ascii_case`: the word comparison decides the same.
    #[test]
    fn folding_by_words_is_eq_ignore_ascii_case_for_every_byte_but_cr() {
        for (name, _) in KNOWN {
            assert!(name.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'), "{name}");
            for at in 0..name.len() {
                for b in (0..=255u8).filter(|&b| b != b'\r') {
                    let mut v = name.as_bytes().to_vec();
                    v[at] = b;
                    assert_eq!(folds_to(&v, name.as_bytes()), v.eq_ignore_ascii_case(name.as_bytes()), "{v:?}");
                }
            }
        }
        // CR is the one byte that folds to `-`: no field name holds one.
        assert!(folds_to(b"content\rlength", b"content-length"));
    }
}
