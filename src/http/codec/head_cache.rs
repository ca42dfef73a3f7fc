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
/// A target, or the field at a given position, is kept only once it has
/// come twice in a row: keeping one costs an allocation (its bytes become
/// shared), which a target or a field that changes on every request
/// (`Content-Length`, a trace id) would pay for nothing. Until then only its
/// raw bytes are remembered, in buffers reused from head to head.
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
    /// The previous head's fields, by position.
    fields: Vec<Field>,
}

/// One position of the previous head's fields.
#[derive(Debug, Default)]
struct Field {
    /// Its raw name, then its raw value.
    raw: Vec<u8>,
    name_len: usize,
    /// Its parsed form, once the same bytes have come twice in a row.
    kept: Option<(HeaderName, HeaderValue)>,
}

impl Field {
    fn is(&self, name: &str, value: &[u8]) -> bool {
        self.name_len == name.len()
            && self.raw.len() == name.len() + value.len()
            && self.raw[..self.name_len] == *name.as_bytes()
            && self.raw[self.name_len..] == *value
    }
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

    /// The field at position `i` of the previous head, if it is `name: value`
    /// again (byte for byte) and has been kept.
    pub(super) fn field(&self, i: usize, name: &str, value: &[u8]) -> Option<(HeaderName, HeaderValue)> {
        let f = self.fields.get(i)?;
        let kept = f.kept.as_ref()?;
        f.is(name, value).then(|| kept.clone())
    }

    /// Remembers the field at position `i`, `name: value` as received and as
    /// parsed, when [`field`](Self::field) had nothing for it (unless this is
    /// the first head): kept if the previous head had it too, else only its
    /// bytes are noted.
    pub(super) fn remember_field(&mut self, i: usize, raw: (&str, &[u8]), parsed: (&HeaderName, &HeaderValue)) {
        if !self.remembering() {
            return;
        }
        let (name, value) = raw;
        if i == self.fields.len() && i < MAX_FIELDS {
            self.fields.push(Field::default());
        }
        let Some(f) = self.fields.get_mut(i) else { return };
        if f.is(name, value) {
            f.kept = Some((parsed.0.clone(), parsed.1.clone()));
        } else {
            f.kept = None;
            f.raw.clear();
            f.raw.extend_from_slice(name.as_bytes());
            f.raw.extend_from_slice(value);
            f.name_len = name.len();
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
        c.remember_field(0, ("User-Agent", ua.as_bytes()), (&HeaderName::from_static("user-agent"), &ua));
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
    fn a_field_is_kept_once_it_repeats_and_a_changed_one_is_not() {
        let mut c = HeadCache::new();
        c.begin_head();
        c.begin_head();
        let name = HeaderName::from_static("user-agent");
        let (ua8, ua9) = ("curl/8", "curl/9");
        let value = HeaderValue::from_static(ua8);
        c.remember_field(0, ("User-Agent", ua8.as_bytes()), (&name, &value));
        assert_eq!(c.field(0, "User-Agent", ua8.as_bytes()), None, "seen once: not kept");
        c.remember_field(0, ("User-Agent", ua8.as_bytes()), (&name, &value));
        assert_eq!(c.field(0, "User-Agent", ua8.as_bytes()), Some((name.clone(), value.clone())), "twice: kept");
        assert_eq!(c.field(0, "User-Agent", ua9.as_bytes()), None, "a changed value is parsed anew");
        assert_eq!(c.field(0, "user-agent", ua8.as_bytes()), None, "so is a name written differently");
        assert_eq!(c.field(0, "Accept", ua8.as_bytes()), None, "and another name");
        assert_eq!(c.field(1, "User-Agent", ua8.as_bytes()), None, "fields are matched by position");
        let v9 = HeaderValue::from_static(ua9);
        c.remember_field(0, ("User-Agent", ua9.as_bytes()), (&name, &v9));
        assert_eq!(c.field(0, "User-Agent", ua8.as_bytes()), None, "a change drops what was kept");
        assert_eq!(c.field(0, "User-Agent", ua9.as_bytes()), None);
        c.remember_field(5, ("User-Agent", ua8.as_bytes()), (&name, &value));
        assert_eq!(c.fields.len(), 1, "positions are filled in order");
        let empty = HeaderValue::from_static("");
        for _ in 0..2 {
            c.remember_field(1, ("Host", &b""[..]), (&header::HOST, &empty));
        }
        assert_eq!(c.field(1, "Host", b""), Some((header::HOST, empty)), "empty values too");
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
