//! A file's validators (`ETag`, `Last-Modified`) and the conditional
//! request fields checked against them (RFC 9110, section 13).

use std::fs::Metadata;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::HeaderMap;
use http::header::{IF_MODIFIED_SINCE, IF_NONE_MATCH, IF_RANGE};

/// The validators of one file (or of one precompressed variant of it).
pub(super) struct Validators {
    /// Strong: size and modification time to the nanosecond, plus the
    /// variant's coding (`"…-br"`), as nginx derives its own from the same.
    pub(super) etag: String,
    /// The modification time, whole seconds (what an HTTP date holds).
    pub(super) modified: Option<SystemTime>,
}

impl Validators {
    pub(super) fn of(meta: &Metadata, coding: Option<&str>) -> Validators {
        let modified = meta.modified().ok();
        let since = modified.and_then(|m| m.duration_since(UNIX_EPOCH).ok()).unwrap_or_default();
        let suffix = coding.map(|c| format!("-{c}")).unwrap_or_default();
        let etag = format!("\"{:x}.{:x}-{:x}{suffix}\"", since.as_secs(), since.subsec_nanos(), meta.len());
        let modified = modified.map(|_| UNIX_EPOCH + Duration::from_secs(since.as_secs()));
        Validators { etag, modified }
    }

    /// The `Last-Modified` value.
    pub(super) fn last_modified(&self) -> Option<String> {
        self.modified.map(httpdate::fmt_http_date)
    }

    /// Whether the request's conditions say the client's copy is current:
    /// `If-None-Match` (weak comparison, `*` matches) when present, else
    /// `If-Modified-Since`. Then the answer is `304 Not Modified`.
    pub(super) fn not_modified(&self, headers: &HeaderMap) -> bool {
        if headers.contains_key(IF_NONE_MATCH) {
            return headers.get_all(IF_NONE_MATCH).iter().any(|v| {
                v.to_str().is_ok_and(|v| v.split(',').map(str::trim).any(|t| t == "*" || weak_eq(t, &self.etag)))
            });
        }
        let since = headers.get(IF_MODIFIED_SINCE).and_then(|v| v.to_str().ok());
        match (since.and_then(|s| httpdate::parse_http_date(s).ok()), self.modified) {
            (Some(since), Some(modified)) => modified <= since,
            _ => false,
        }
    }

    /// Whether a `Range` may be honoured: no `If-Range`, or one naming this
    /// very representation (strong comparison of the tag, or the exact date).
    pub(super) fn range_applies(&self, headers: &HeaderMap) -> bool {
        let Some(v) = headers.get(IF_RANGE) else { return true };
        let Ok(v) = v.to_str() else { return false };
        let v = v.trim();
        if v.starts_with('"') || v.starts_with("W/") {
            return v == self.etag;
        }
        match (httpdate::parse_http_date(v).ok(), self.modified) {
            (Some(date), Some(modified)) => date == modified,
            _ => false,
        }
    }
}

/// Weak comparison: equal opaque tags, ignoring a `W/` on either side.
fn weak_eq(a: &str, b: &str) -> bool {
    a.strip_prefix("W/").unwrap_or(a) == b.strip_prefix("W/").unwrap_or(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(http::HeaderName::from_bytes(k.as_bytes()).unwrap(), v.parse().unwrap());
        }
        h
    }

    #[test]
    fn conditions() {
        let v = Validators { etag: "\"a-1\"".into(), modified: Some(UNIX_EPOCH + Duration::from_secs(1_000_000)) };
        let date = v.last_modified().unwrap();
        assert!(v.not_modified(&headers(&[("if-none-match", "\"x\", W/\"a-1\"")])));
        assert!(v.not_modified(&headers(&[("if-none-match", "*")])));
        assert!(!v.not_modified(&headers(&[("if-none-match", "\"x\""), ("if-modified-since", &date)])));
        assert!(v.not_modified(&headers(&[("if-modified-since", &date)])));
        let earlier = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(999_999));
        assert!(!v.not_modified(&headers(&[("if-modified-since", &earlier)])));
        assert!(!v.not_modified(&headers(&[("if-modified-since", "yesterday")])));
        assert!(v.range_applies(&headers(&[])));
        assert!(v.range_applies(&headers(&[("if-range", "\"a-1\"")])));
        assert!(!v.range_applies(&headers(&[("if-range", "W/\"a-1\"")])));
        assert!(v.range_applies(&headers(&[("if-range", &date)])));
        assert!(!v.range_applies(&headers(&[("if-range", &earlier)])));
    }
}
