//! Query strings and percent-decoding: [`percent_decode`], [`query_pairs`],
//! and the path-segment decoding the router uses.

use std::borrow::Cow;

/// Decodes a query component: `%XX` escapes become bytes and `+` becomes a
/// space. An invalid escape (`%` not followed by two hex digits) is kept
/// literally; bytes that are not UTF-8 are replaced with U+FFFD.
///
/// Borrows when there is nothing to decode.
///
/// ```
/// use greenloop::http::percent_decode;
/// assert_eq!(percent_decode("a+b%21"), "a b!");
/// assert_eq!(percent_decode("100%"), "100%");
/// assert_eq!(percent_decode("%zz"), "%zz");
/// ```
pub fn percent_decode(s: &str) -> Cow<'_, str> {
    decode(s, true)
}

/// Decodes a path segment: like [`percent_decode`] but `+` stays a `+`.
pub(crate) fn percent_decode_path(s: &str) -> Cow<'_, str> {
    decode(s, false)
}

fn decode(s: &str, plus_is_space: bool) -> Cow<'_, str> {
    let bytes = s.as_bytes();
    let needs = bytes.iter().any(|&b| b == b'%' || (plus_is_space && b == b'+'));
    if !needs {
        return Cow::Borrowed(s);
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        match b {
            b'%' => match (bytes.get(i + 1).and_then(|&h| hex(h)), bytes.get(i + 2).and_then(|&l| hex(l))) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' if plus_is_space => out.push(b' '),
            _ => out.push(b),
        }
        i += 1;
    }
    match String::from_utf8(out) {
        Ok(s) => Cow::Owned(s),
        Err(e) => Cow::Owned(String::from_utf8_lossy(e.as_bytes()).into_owned()),
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Splits a query string (without the `?`) into decoded pairs, in order.
///
/// Segments are separated by `&` and empty ones skipped; each splits at its
/// first `=`, a segment without `=` being a key with an empty value. Both
/// sides are decoded with [`percent_decode`].
///
/// ```
/// use greenloop::http::query_pairs;
/// let pairs = query_pairs("a=1&&flag&b=x%3Dy=z");
/// assert_eq!(pairs, [("a".into(), "1".into()), ("flag".into(), "".into()), ("b".into(), "x=y=z".into())]);
/// ```
pub fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|seg| !seg.is_empty())
        .map(|seg| {
            let (k, v) = seg.split_once('=').unwrap_or((seg, ""));
            (percent_decode(k).into_owned(), percent_decode(v).into_owned())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_basics() {
        assert!(matches!(percent_decode("plain"), Cow::Borrowed("plain")));
        assert_eq!(percent_decode("a%20b"), "a b");
        assert_eq!(percent_decode("a+b"), "a b");
        assert_eq!(percent_decode("%2B"), "+");
        assert_eq!(percent_decode("%e2%82%AC"), "€");
        assert_eq!(percent_decode(""), "");
    }

    #[test]
    fn decode_invalid_escapes_kept() {
        assert_eq!(percent_decode("%"), "%");
        assert_eq!(percent_decode("%4"), "%4");
        assert_eq!(percent_decode("%4g"), "%4g");
        assert_eq!(percent_decode("%%41"), "%A");
        assert_eq!(percent_decode("50%+off"), "50% off");
    }

    #[test]
    fn decode_invalid_utf8_is_lossy() {
        assert_eq!(percent_decode("%ff"), "\u{fffd}");
        assert_eq!(percent_decode("a%c3"), "a\u{fffd}");
        assert_eq!(percent_decode("%C3%A9%80"), "é\u{fffd}");
    }

    #[test]
    fn path_decoding_keeps_plus() {
        assert_eq!(percent_decode_path("a+b%20c"), "a+b c");
        assert!(matches!(percent_decode_path("a+b"), Cow::Borrowed(_)));
    }

    #[test]
    fn pairs_edge_cases() {
        assert!(query_pairs("").is_empty());
        assert!(query_pairs("&&&").is_empty());
        assert_eq!(query_pairs("k"), [("k".to_string(), String::new())]);
        assert_eq!(query_pairs("=v"), [(String::new(), "v".to_string())]);
        assert_eq!(query_pairs("a=1=2"), [("a".to_string(), "1=2".to_string())]);
        assert_eq!(
            query_pairs("a%20b=c+d&a=2"),
            [("a b".to_string(), "c d".to_string()), ("a".to_string(), "2".to_string())]
        );
    }
}
