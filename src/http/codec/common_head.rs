//! The common request head in one pass: `METHOD /origin-form HTTP/1.x`
//! with CRLF line ends and plain ASCII fields, which is what browsers,
//! HTTP libraries and load generators send.
//!
//! httparse is general: it handles bare LF line ends, leading empty lines,
//! fragments, bytes above 0x7F, and tells an error from an incomplete head
//! precisely. That generality costs: on a two-line head most of the
//! server's parse time went to it, a third of that validating the target
//! as UTF-8 although the target is checked again against `Uri`'s rules. So
//! this pass accepts only the common form, checking the target once with
//! those rules, and gives up (`None`) on anything else, leaving the head to
//! httparse, whose verdict then stands: an error, an incomplete head, or
//! an unusual but valid one. Nothing is decided differently: what this
//! pass accepts, httparse accepts the same way (same method, target,
//! version, fields and length), which a unit test here and the
//! `request_head` fuzzing target check on every input.

use std::mem::MaybeUninit;

use super::raw_head::{OK, PATH, QUERY, QUERY_PART};

/// A request head read by [`parse_common`]; its fields are in the slots.
#[derive(Debug)]
pub(super) struct Common<'b> {
    pub(super) method: &'b str,
    /// The request target (origin form, no fragment, ASCII).
    pub(super) target: &'b [u8],
    /// Position of the `?` in `target`.
    pub(super) query: Option<usize>,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub(super) version: u8,
    /// How many slots hold a field.
    pub(super) fields: usize,
    /// The head's length, final CRLF included.
    pub(super) len: usize,
}

const HTTP_11: u64 = u64::from_le_bytes(*b"HTTP/1.1");
const HTTP_10: u64 = u64::from_le_bytes(*b"HTTP/1.0");

/// Longest method looked for (the registered ones are at most 17 bytes).
const MAX_METHOD: usize = 24;

/// Reads `buf` as a common request head, writing its fields into `slots`;
/// `None` when the head is anything else (or incomplete, or has more fields
/// than `slots`): then httparse decides.
///
/// Always inlined into its one caller: left to itself the compiler may
/// call it, and the call, with its answer moved through memory, cost
/// about 50 instructions a request.
#[inline(always)]
pub(super) fn parse_common<'b>(buf: &'b [u8], slots: &mut [MaybeUninit<httparse::Header<'b>>]) -> Option<Common<'b>> {
    let method_len = if buf.starts_with(b"GET ") {
        3
    } else {
        let sp = memchr::memchr(b' ', &buf[..buf.len().min(MAX_METHOD + 1)])?;
        if sp == 0 || !buf[..sp].iter().all(|&b| TCHAR[usize::from(b)]) {
            return None;
        }
        sp
    };
    // SAFETY: `buf[..method_len]` is "GET" or bytes checked to be tchar (ASCII).
    let method = unsafe { std::str::from_utf8_unchecked(&buf[..method_len]) };

    let start = method_len + 1;
    if buf.get(start) != Some(&b'/') {
        return None;
    }
    let (query, end) = scan_target(buf, start)?;
    let target = &buf[start..end];

    let line_end = buf.get(end + 1..end + 11)?;
    let version = match (u64::from_le_bytes(line_end[..8].try_into().ok()?), &line_end[8..]) {
        (HTTP_11, b"\r\n") => 1,
        (HTTP_10, b"\r\n") => 0,
        _ => return None,
    };

    let mut at = end + 11;
    let mut fields = 0;
    loop {
        if buf.get(at..at + 2)? == b"\r\n" {
            return Some(Common { method, target, query, version, fields, len: at + 2 });
        }
        let (header, next) = field(buf, at)?;
        slots.get_mut(fields)?.write(header);
        fields += 1;
        at = next;
    }
}

/// The target starting at `buf[start]` (a `/`) up to the space after it:
/// the `?`'s position in it and where it ends. `None` on a byte `Uri`
/// refuses, on a fragment or a byte above 0x7F (left to httparse), or when
/// the buffer ends first.
///
/// Eight bytes at a time ([`skip_plain`]) up to a byte the tables do not
/// hold plain in a path ([`path_flags`]) or in a query ([`query_flags`]),
/// which the tables then decide; the last few bytes one at a time.
#[inline]
fn scan_target(buf: &[u8], start: usize) -> Option<(Option<usize>, usize)> {
    let mut i = start;
    let query = loop {
        i = skip_plain(buf, i, path_flags);
        let b = *buf.get(i)?;
        match PATH[usize::from(b)] {
            OK => i += 1,
            QUERY => break Some(i - start),
            _ if b == b' ' => return Some((None, i)),
            _ => return None,
        }
    };
    loop {
        i = skip_plain(buf, i + 1, query_flags);
        let b = *buf.get(i)?;
        match QUERY_PART[usize::from(b)] {
            OK => {}
            _ if b == b' ' => return Some((query, i)),
            _ => return None,
        }
    }
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH: u64 = 0x8080_8080_8080_8080;

/// From `buf[i]`, eight bytes at a time: the position of the first byte
/// `flags` flags in a word, or, when fewer than eight bytes are left
/// before it, of the first of those.
#[inline(always)]
fn skip_plain(buf: &[u8], mut i: usize, flags: impl Fn(u64) -> u64) -> usize {
    while let Some(word) = buf.get(i..i + 8) {
        let flagged = flags(u64::from_le_bytes(word.try_into().expect("8 bytes")));
        if flagged != 0 {
            return i + flagged.trailing_zeros() as usize / 8;
        }
        i += 8;
    }
    i
}

/// The bytes of the word `x` (first byte lowest) outside `0x21..=0x7E`,
/// as the high bit of each; exact up to the first flagged byte, not above
/// it (so the lowest set bit is exactly the first such byte).
///
/// No byte below the first flagged one borrows in `x - 0x21` or carries in
/// `x + 1`, so each byte's result there is its own: below 0x21 the
/// subtraction wraps to 0xDF or more, 0x7F plus one is 0x80, and a byte
/// above 0x7F has its high bit already.
#[inline(always)]
fn outside_visible(x: u64) -> u64 {
    x.wrapping_sub(0x21 * ONES) | x.wrapping_add(ONES) | x
}

/// Bytes of `x` equal to `c` (below 0x80), as [`outside_visible`] flags
/// them: a visible byte other than `c` gives a non-zero byte below 0x80,
/// which subtracting one neither wraps nor borrows through.
#[inline(always)]
fn equal_to(x: u64, c: u8) -> u64 {
    (x ^ (u64::from(c) * ONES)).wrapping_sub(ONES)
}

/// Bytes of `x` that are not plain in a path: those `PATH` does not hold
/// `OK` (in `0x21..=0x7E`: `#`, `<`, `>`, `?` and `` ` ``), as
/// [`outside_visible`] flags them.
#[inline(always)]
fn path_flags(x: u64) -> u64 {
    // `<` (0x3C) and `>` (0x3E) are the bytes that give 0x3E with bit 1 set.
    let angle = equal_to(x | (0x02 * ONES), 0x3E);
    (outside_visible(x) | equal_to(x, b'#') | angle | equal_to(x, b'?') | equal_to(x, b'`')) & HIGH
}

/// Bytes of `x` that are not plain in a query: those `QUERY_PART` does not
/// hold `OK` (in `0x21..=0x7E`: `"`, `#`, `<` and `>`), as
/// [`outside_visible`] flags them.
#[inline(always)]
fn query_flags(x: u64) -> u64 {
    // `"` (0x22) and `#` (0x23) give 0x23 with bit 0 set, `<` and `>` 0x3E with bit 1.
    let quote_or_hash = equal_to(x | ONES, 0x23);
    let angle = equal_to(x | (0x02 * ONES), 0x3E);
    (outside_visible(x) | quote_or_hash | angle) & HIGH
}

/// The field line at `buf[at..]`: `name: value CRLF` with a token name and
/// a value of visible ASCII, spaces and tabs; the value without the
/// whitespace around it, as httparse gives it. Also where the next line starts.
#[inline]
fn field(buf: &[u8], at: usize) -> Option<(httparse::Header<'_>, usize)> {
    let rest = &buf[at..];
    let colon = rest.iter().position(|&b| !TCHAR[usize::from(b)])?;
    if colon == 0 || rest[colon] != b':' {
        return None;
    }
    let mut first = colon + 1;
    while matches!(rest.get(first), Some(b' ' | b'\t')) {
        first += 1;
    }
    let cr = value_end(rest, first)?;
    if rest.get(cr + 1) != Some(&b'\n') {
        return None;
    }
    let mut last = cr;
    while last > first && matches!(rest[last - 1], b' ' | b'\t') {
        last -= 1;
    }
    // SAFETY: `rest[..colon]` was checked to be tchar (ASCII).
    let name = unsafe { std::str::from_utf8_unchecked(&rest[..colon]) };
    Some((httparse::Header { name, value: &rest[first..last] }, at + cr + 2))
}

/// Where the value starting at `rest[from]` ends: the position of its CR.
/// `None` if a byte before it is not visible ASCII, a space or a tab (left
/// to httparse), or the buffer ends first.
///
/// Eight bytes at a time: a word with no byte below 0x20 (controls, tab,
/// CR, LF) and none at or above 0x7F is plain value bytes.
#[inline]
fn value_end(rest: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while let Some(word) = rest.get(i..i + 8) {
        let x = u64::from_le_bytes(word.try_into().ok()?);
        let below_space = x.wrapping_sub(0x20 * ONES) & !x & HIGH;
        let del_or_high = (x.wrapping_add(ONES) | x) & HIGH;
        let flagged = below_space | del_or_high;
        if flagged == 0 {
            i += 8;
            continue;
        }
        // The lowest flagged byte is exactly the first that is not plain
        // (a borrow can only flag bytes above it).
        i += flagged.trailing_zeros() as usize / 8;
        match rest[i] {
            b'\r' => return Some(i),
            b'\t' => i += 1,
            _ => return None,
        }
    }
    loop {
        match *rest.get(i)? {
            b'\r' => return Some(i),
            b'\t' | 0x20..=0x7e => i += 1,
            _ => return None,
        }
    }
}

/// RFC 9110 `tchar`: the bytes of a method and of a field name.
const TCHAR: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = matches!(b,
            b'!' | b'#' | b'$' | b'%' | b'&' | b'\'' | b'*' | b'+' | b'-' | b'.' | b'^' | b'_'
            | b'`' | b'|' | b'~' | b'0'..=b'9' | b'a'..=b'z' | b'A'..=b'Z');
        i += 1;
    }
    t
};

#[cfg(test)]
mod tests {
    use super::*;

    /// Method, target, version, fields and length, as owned values.
    type Reading = Option<(String, String, u8, Vec<(String, Vec<u8>)>, usize)>;

    /// httparse's reading of `head`.
    fn httparse_reads(head: &[u8]) -> Reading {
        let mut slots = [httparse::EMPTY_HEADER; 16];
        let mut req = httparse::Request::new(&mut slots);
        let n = match req.parse(head) {
            Ok(httparse::Status::Complete(n)) => n,
            _ => return None,
        };
        let fields = req.headers.iter().map(|h| (h.name.to_string(), h.value.to_vec())).collect();
        Some((req.method?.to_string(), req.path?.to_string(), req.version?, fields, n))
    }

    fn ours(head: &[u8]) -> Reading {
        let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; 16];
        let c = parse_common(head, &mut slots)?;
        let fields = slots[..c.fields]
            .iter()
            .map(|s| {
                // SAFETY: the first `c.fields` slots were written.
                let h = unsafe { s.assume_init_ref() };
                (h.name.to_string(), h.value.to_vec())
            })
            .collect();
        let target = String::from_utf8(c.target.to_vec()).unwrap();
        if let Some(q) = c.query {
            assert_eq!(c.target[q], b'?');
        }
        Some((c.method.to_string(), target, c.version, fields, c.len))
    }

    #[test]
    fn what_it_accepts_httparse_reads_the_same_way() {
        let heads: &[&[u8]] = &[
            b"GET /plaintext HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n",
            b"POST /items?x=1&y=%20 HTTP/1.0\r\nContent-Length: 2\r\n\r\nhi",
            b"PURGE /a HTTP/1.1\r\nHost: h\r\nX-Empty:\r\nX-Spaces: \t a b \t\r\nCookie: a=1; b=2\r\n\r\n",
            b"GET /q?a?b=/c HTTP/1.1\r\nhost:h\r\n\r\n",
            b"GET /a\"{}|b HTTP/1.1\r\nHost: h\r\n\r\n",
        ];
        for head in heads {
            assert!(ours(head).is_some(), "{:?}", String::from_utf8_lossy(head));
            assert_eq!(ours(head), httparse_reads(head), "{:?}", String::from_utf8_lossy(head));
        }
    }

    #[test]
    fn anything_else_is_left_to_httparse() {
        let heads: &[&[u8]] = &[
            b"\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n",
            b"GET / HTTP/1.1\nHost: h\n\n",
            b"GET /a#f HTTP/1.1\r\nHost: h\r\n\r\n",
            b"GET /caf\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n",
            b"GET / HTTP/1.1\r\nX: caf\xc3\xa9\r\n\r\n",
            b"GET * HTTP/1.1\r\nHost: h\r\n\r\n",
            b"GET http://h/ HTTP/1.1\r\nHost: h\r\n\r\n",
            b"GET / HTTP/2.0\r\nHost: h\r\n\r\n",
            b"GET  / HTTP/1.1\r\nHost: h\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost : h\r\n\r\n",
            b"GET / HTTP/1.1\r\n Host: h\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: h\r\n",
            b"GET / HTTP/1.1\r\nHost: h\r\r\n\r\n",
            b"GET / HTTP/1.1\r\nX: a\x7fb\r\n\r\n",
            b"GET / HTTP/1.1\r\n: v\r\n\r\n",
            b"GET /a<b HTTP/1.1\r\nHost: h\r\n\r\n",
        ];
        for head in heads {
            assert_eq!(ours(head), None, "{:?}", String::from_utf8_lossy(head));
        }
        // More fields than slots: left to httparse (which says how many is too many).
        let mut slots = [const { MaybeUninit::<httparse::Header<'_>>::uninit() }; 1];
        assert!(parse_common(b"GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\n\r\n", &mut slots).is_none());
    }

    #[test]
    fn a_value_ends_at_its_cr_and_any_other_control_or_high_byte_is_refused() {
        for len in 0..40 {
            for at in 0..len {
                for (b, plain) in [
                    (b'a', true),
                    (b'\t', true),
                    (b' ', true),
                    (b'~', true),
                    (0x7f, false),
                    (0x80, false),
                    (0xff, false),
                    (0x00, false),
                    (0x1f, false),
                    (b'\n', false),
                ] {
                    let mut v = vec![b'x'; len];
                    v[at] = b;
                    v.extend_from_slice(b"\r\n");
                    let want = if plain { Some(len) } else { None };
                    assert_eq!(value_end(&v, 0), want, "byte {b:#x} at {at} of {len}");
                }
            }
        }
        assert_eq!(value_end(b"abcdefghijklmnop", 0), None, "no CR before the end");
        assert_eq!(value_end(b"abcdefgh\rijklmnop", 0), Some(8));
    }

    /// The word flags against the tables, byte by byte: the lowest flag is
    /// always the first byte the table does not hold plain, whatever the
    /// plain bytes before it and whatever follows it.
    #[test]
    fn the_first_flagged_byte_of_a_word_is_the_first_the_table_does_not_hold_plain() {
        type Flags = fn(u64) -> u64;
        let tables: [(Flags, &[u8; 256]); 2] = [(path_flags, &PATH), (query_flags, &QUERY_PART)];
        for (flags, table) in tables {
            let plain: Vec<u8> = (0..=255u8).filter(|&b| table[usize::from(b)] == OK).collect();
            for at in 0..8 {
                for b in 0..=255u8 {
                    for k in 0..plain.len() {
                        let mut word = [0u8; 8];
                        for (j, w) in word.iter_mut().enumerate() {
                            *w = match j.cmp(&at) {
                                std::cmp::Ordering::Less => plain[(k + j * 5) % plain.len()],
                                std::cmp::Ordering::Equal => b,
                                std::cmp::Ordering::Greater => (k * 7 + j * 37) as u8,
                            };
                        }
                        let first = word.iter().position(|&c| table[usize::from(c)] != OK);
                        let flagged = flags(u64::from_le_bytes(word));
                        let lowest = (flagged != 0).then(|| flagged.trailing_zeros() as usize / 8);
                        assert_eq!(lowest, first, "{word:02x?}");
                    }
                }
            }
        }
    }

    #[test]
    fn a_target_is_read_the_same_across_word_boundaries() {
        // Every length of path and query, with the byte that ends each part
        // at every position relative to the words.
        for path_len in 1..20 {
            for query_len in [None, Some(0), Some(1), Some(7), Some(8), Some(9), Some(17)] {
                let mut head = b"GET /".to_vec();
                head.extend((1..path_len).map(|i| b"abc=-\"{}"[i % 8]));
                if let Some(q) = query_len {
                    head.push(b'?');
                    head.extend((0..q).map(|i| b"x=?/&%`{"[i % 8]));
                }
                head.extend_from_slice(b" HTTP/1.1\r\nHost: h\r\n\r\n");
                assert!(ours(&head).is_some(), "{:?}", String::from_utf8_lossy(&head));
                assert_eq!(ours(&head), httparse_reads(&head), "{:?}", String::from_utf8_lossy(&head));
                for bad in [b'<', b'#', b'\x7f', 0xc3, b'\t'] {
                    for at in 5..head.len() - 22 {
                        let mut h = head.clone();
                        h[at] = bad;
                        assert_eq!(ours(&h), None, "{:?}", String::from_utf8_lossy(&h));
                    }
                }
            }
        }
    }

    #[test]
    fn every_prefix_of_a_head_is_left_to_httparse() {
        let head = b"GET /p?q HTTP/1.1\r\nHost: h\r\nX: y\r\n\r\n";
        for k in 0..head.len() {
            assert_eq!(ours(&head[..k]), None, "prefix of {k}");
        }
        assert!(ours(head).is_some());
    }

    #[test]
    fn noise_is_never_read_differently() {
        let alphabet = b"GET /?#a:b \r\n\tHTTP1.0\x7f\xc3";
        for input in crate::http::codec::noise(7, alphabet, 80, 20_000) {
            if let Some(o) = ours(&input) {
                assert_eq!(Some(o), httparse_reads(&input), "{:?}", String::from_utf8_lossy(&input));
            }
        }
        // Heads built from random pieces: a method, a target and fields,
        // each drawn from bytes that include the ones that matter.
        let mut seen = 0;
        let methods = crate::http::codec::noise(3, b"GETPOS_-", 6, 20_000);
        let targets = crate::http::codec::noise(5, b"/a?=&%20#\"<\x7f\xc3 ", 12, 20_000);
        let names = crate::http::codec::noise(9, b"Hostx-: \t", 8, 20_000);
        let values = crate::http::codec::noise(13, b"ab \t:\r\n\x7f\xc3,", 10, 20_000);
        for (((m, t), n), v) in methods.zip(targets).zip(names).zip(values) {
            let mut head = [m.as_slice(), b" /", &t, b" HTTP/1.1\r\n"].concat();
            head.extend_from_slice(&[n.as_slice(), b":", &v, b"\r\nHost: h\r\n\r\n"].concat());
            if let Some(o) = ours(&head) {
                seen += 1;
                assert_eq!(Some(o), httparse_reads(&head), "{:?}", String::from_utf8_lossy(&head));
            }
        }
        assert!(seen > 200, "the noise made only {seen} heads this pass accepts");
    }
}
