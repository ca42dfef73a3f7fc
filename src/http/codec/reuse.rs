//! Reuse of what repeats from one request head to the next on a connection.

use http::header::{HeaderName, HeaderValue};
use http::uri::{InvalidUri, Uri};

/// Request targets longer than this are not remembered (nor is memory kept for them).
const MAX_TARGET: usize = 512;
/// Header fields remembered: the first this many of a head.
const MAX_FIELDS: usize = 32;

/// The previous request head on a connection, kept so that the next one
/// can reuse what it repeats byte for byte.
///
/// A keep-alive client resends most of the same header fields (`Host`,
/// `User-Agent`, `Accept`, `Cookie`...) on every request, and a polling
/// client the same request target. A repeated field or target costs a
/// comparison and a reference-count increment; a new one costs validation,
/// an allocation and a copy, and a free when the request is dropped.
/// Fields are compared at the same position, which is where clients put
/// them.
///
/// Header fields are remembered from every head after the first. A target
/// is only remembered once it has come twice in a row: keeping one costs an
/// allocation (its bytes become shared), which a client that asks for a
/// new target on every request would pay for nothing.
///
/// Nothing is remembered from a connection's first head: a connection that
/// closes after one request pays nothing for the cache.
#[derive(Debug, Default)]
pub struct HeadCache {
    heads: u64,
    /// The previous head's target (empty when not remembered).
    target: Vec<u8>,
    /// Its URI, once `target` has come twice in a row.
    uri: Option<Uri>,
    fields: Vec<(HeaderName, HeaderValue)>,
}

impl HeadCache {
    /// A cache that has seen no head.
    pub fn new() -> HeadCache {
        HeadCache::default()
    }

    /// Counts a new head.
    pub(super) fn begin_head(&mut self) {
        self.heads += 1;
    }

    /// Whether the current head's parts are remembered: all but the first's.
    fn remembering(&self) -> bool {
        self.heads > 1
    }

    /// The URI for `target`: the previous one when the bytes repeat.
    pub(super) fn uri(&mut self, target: &[u8]) -> Result<Uri, InvalidUri> {
        if self.target != target {
            self.uri = None;
            self.target.clear();
            if self.remembering() && target.len() <= MAX_TARGET {
                self.target.extend_from_slice(target);
            } else if self.target.capacity() > MAX_TARGET {
                self.target = Vec::new();
            }
            return Uri::try_from(target);
        }
        if let Some(uri) = &self.uri {
            return Ok(uri.clone());
        }
        // The second time in a row: keep it from now on.
        let uri = Uri::try_from(target)?;
        self.uri = Some(uri.clone());
        Ok(uri)
    }

    /// The field at position `i` of the previous head, if it is `name: value` again.
    pub(super) fn field(&self, i: usize, name: &str, value: &[u8]) -> Option<(HeaderName, HeaderValue)> {
        let (n, v) = self.fields.get(i)?;
        let same = v.as_bytes() == value && n.as_str().as_bytes().eq_ignore_ascii_case(name.as_bytes());
        same.then(|| (n.clone(), v.clone()))
    }

    /// Remembers `name: value` as the field at position `i` (unless this is the first head).
    pub(super) fn remember_field(&mut self, i: usize, name: &HeaderName, value: &HeaderValue) {
        if !self.remembering() {
            return;
        }
        let field = (name.clone(), value.clone());
        if i < self.fields.len() {
            self.fields[i] = field;
        } else if i == self.fields.len() && i < MAX_FIELDS {
            self.fields.push(field);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header;

    #[test]
    fn nothing_is_remembered_from_the_first_head() {
        let mut c = HeadCache::new();
        c.begin_head();
        let target = "/items/search?query=1&page=1";
        assert_eq!(c.uri(target.as_bytes()).unwrap(), target);
        assert!(c.uri.is_none() && c.target.is_empty());
        let ua = HeaderValue::from_static("Mozilla/5.0 (X11; Linux) curl/8");
        c.remember_field(0, &HeaderName::from_static("user-agent"), &ua);
        assert!(c.fields.is_empty());
        c.begin_head();
        assert!(c.remembering());
    }

    #[test]
    fn a_target_is_kept_once_it_repeats_and_dropped_when_it_changes() {
        let mut c = HeadCache::new();
        c.begin_head();
        c.begin_head();
        let (t1, t2) = ("/a?page=1", "/a?page=2");
        assert_eq!(c.uri(t1.as_bytes()).unwrap(), t1);
        assert!(c.uri.is_none(), "a target seen once is not kept");
        let kept = c.uri(t1.as_bytes()).unwrap();
        assert_eq!(kept, t1);
        assert_eq!(c.uri.as_ref(), Some(&kept), "twice in a row: kept");
        assert_eq!(c.uri(t1.as_bytes()).unwrap(), t1);
        assert_eq!(c.uri(t2.as_bytes()).unwrap(), t2, "a changed target is parsed anew");
        assert!(c.uri.is_none());
        assert_eq!(c.uri(t2.as_bytes()).unwrap(), t2);
        assert_eq!(c.uri(b"/x").unwrap(), "/x");
        assert_eq!(c.target, b"/x");
    }

    #[test]
    fn a_repeated_field_comes_back_and_a_changed_one_does_not() {
        let mut c = HeadCache::new();
        c.begin_head();
        c.begin_head();
        let name = HeaderName::from_static("user-agent");
        let (ua8, ua9) = ("curl/8", "curl/9");
        let value = HeaderValue::from_static(ua8);
        c.remember_field(0, &name, &value);
        assert_eq!(c.field(0, "User-Agent", ua8.as_bytes()), Some((name.clone(), value.clone())));
        assert_eq!(c.field(0, "User-Agent", ua9.as_bytes()), None, "a changed value is parsed anew");
        assert_eq!(c.field(0, "Accept", ua8.as_bytes()), None, "a changed name is parsed anew");
        assert_eq!(c.field(1, "User-Agent", ua8.as_bytes()), None, "fields are matched by position");
        c.remember_field(5, &name, &value);
        assert_eq!(c.fields.len(), 1, "positions are filled in order");
        c.remember_field(1, &HeaderName::from_static("host"), &HeaderValue::from_static(""));
        assert_eq!(c.field(1, "Host", b""), Some((header::HOST, HeaderValue::from_static(""))), "empty values too");
    }

    #[test]
    fn long_targets_are_not_kept() {
        let mut c = HeadCache::new();
        c.begin_head();
        c.begin_head();
        let long = format!("/{}", "a".repeat(MAX_TARGET));
        for _ in 0..3 {
            c.uri(long.as_bytes()).unwrap();
        }
        assert!(c.uri.is_none() && c.target.capacity() == 0);
    }
}
