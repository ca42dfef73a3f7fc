//! [`RawHead`]: a request head kept as the bytes it arrived in, with the
//! positions of its target and fields, read without building anything.
//!
//! Building `http`'s owned types for every request (a `Uri` with its own
//! copy of the target, a `HeaderMap` with a name and a value per field) is
//! most of what an HTTP/1.1 server spends per request, and most handlers
//! never look at most of it: the router reads the method and the path, a
//! handler one header or two. So the parser keeps the head as received and
//! notes where things are; [`RawHead::header_map`] and [`RawHead::uri`]
//! build the owned types only for a request that asks for them.
//!
//! Everything is validated when the head is parsed, as strictly as the
//! owned types would: a head the server accepted never fails to become a
//! `Uri` and a `HeaderMap` later.
//!
//! The storage is recycled per thread: a head costs a copy of its bytes
//! into a buffer a previous request gave back, not an allocation.

use std::cell::RefCell;
use std::mem::ManuallyDrop;
use std::ops::Range;

use bytes::Bytes;
use http::Uri;
use http::header::{HeaderMap, HeaderName, HeaderValue};

/// Spare head buffers kept per thread for the next requests.
const SPARE_HEADS: usize = 64;
/// A buffer grown past this by a large head is not kept for reuse.
const KEEP_CAPACITY: usize = 4096;
/// Field positions kept in a recycled buffer.
const KEEP_FIELDS: usize = 64;

/// No query (`RawHead::query` holds the position of the `?` otherwise).
const NO_QUERY: u32 = u32::MAX;

thread_local! {
    // Boxed: a `RawHead` is one pointer, and taking a spare moves only it.
    #[allow(clippy::vec_box)]
    static SPARE: RefCell<Vec<Box<Stored>>> = const { RefCell::new(Vec::new()) };
}

/// A request head as received: its bytes, where its target is, and where
/// each header field's name and value are.
pub struct RawHead {
    /// Given back to the pool on drop.
    stored: ManuallyDrop<Box<Stored>>,
}

#[derive(Default)]
struct Stored {
    bytes: Vec<u8>,
    /// The request target: `bytes[target.0..target.1]`, without a fragment.
    target: (u32, u32),
    /// Position of the `?` in `bytes`, or `NO_QUERY`.
    query: u32,
    /// Each field: name start, name length, value start, value length.
    fields: Vec<[u32; 4]>,
    /// A target not in origin form, parsed (then `target` is empty).
    /// Boxed: the common head moves and drops only a null pointer.
    uri: Option<Box<Uri>>,
}

impl RawHead {
    /// Copies `head` (a complete head as httparse parsed it in place) with
    /// the positions of `target` (a sub-slice of `head`, already checked by
    /// [`scan_origin_form`]) and of each field's name and value (sub-slices of
    /// `head` too).
    pub(super) fn new(
        head: &[u8],
        target: &[u8],
        query: Option<usize>,
        uri: Option<Box<Uri>>,
        fields: &[httparse::Header<'_>],
    ) -> RawHead {
        let mut stored = SPARE.with(|s| s.borrow_mut().pop()).unwrap_or_default();
        let base = head.as_ptr() as usize;
        let at = |s: &[u8]| (s.as_ptr() as usize - base) as u32;
        stored.bytes.clear();
        stored.bytes.extend_from_slice(head);
        let start = at(target);
        stored.target = (start, start + target.len() as u32);
        stored.query = query.map_or(NO_QUERY, |q| start + q as u32);
        stored.fields.clear();
        stored.fields.extend(
            fields.iter().map(|h| [at(h.name.as_bytes()), h.name.len() as u32, at(h.value), h.value.len() as u32]),
        );
        // A spare holds no `Uri` (the drop takes it out): a head in origin
        // form writes nothing here.
        if uri.is_some() {
            stored.uri = uri;
        }
        RawHead { stored: ManuallyDrop::new(stored) }
    }

    /// The target when it is not in origin form (`/path?query`): an
    /// absolute URI (sent to proxies), an authority (`CONNECT`) or `*`
    /// (`OPTIONS`), parsed. `None` for origin form, which [`target`](Self::target),
    /// [`path`](Self::path) and [`query`](Self::query) read.
    pub fn other_form(&self) -> Option<&Uri> {
        self.stored.uri.as_deref()
    }

    /// The request target as received (path and query), without a fragment.
    pub fn target(&self) -> &str {
        let (a, b) = self.stored.target;
        self.text(a, b)
    }

    /// The path: the target up to its `?`.
    pub fn path(&self) -> &str {
        let (a, b) = self.stored.target;
        match self.stored.query {
            NO_QUERY => self.text(a, b),
            q => self.text(a, q),
        }
    }

    /// The query: what follows the `?` (`None` without one).
    pub fn query(&self) -> Option<&str> {
        match self.stored.query {
            NO_QUERY => None,
            q => Some(self.text(q + 1, self.stored.target.1)),
        }
    }

    fn text(&self, a: u32, b: u32) -> &str {
        let bytes = &self.stored.bytes[a as usize..b as usize];
        // The target was checked by `scan_origin_form`: ASCII, or bytes that
        // are valid UTF-8 (checked as a whole, and it is split only at ASCII
        // `?`, which is never inside a multi-byte sequence).
        debug_assert!(std::str::from_utf8(bytes).is_ok());
        // SAFETY: see above; the bytes are valid UTF-8.
        unsafe { std::str::from_utf8_unchecked(bytes) }
    }

    /// Each header field, name and value as received, in order.
    pub fn fields(&self) -> impl DoubleEndedIterator<Item = (&str, &[u8])> + ExactSizeIterator + '_ {
        self.stored.fields.iter().map(move |&[n, nl, v, vl]| {
            let name = &self.stored.bytes[n as usize..(n + nl) as usize];
            // SAFETY: httparse accepts only token bytes (ASCII) in a name.
            let name = unsafe { std::str::from_utf8_unchecked(name) };
            (name, &self.stored.bytes[v as usize..(v + vl) as usize])
        })
    }

    /// The value of the first field named `name` (compared without case).
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.find(0..self.stored.fields.len(), name, false).map(|(_, v)| v)
    }

    /// The first field named `name` (the last, with `last`) among the
    /// fields at positions `within`: its position and value.
    pub fn find(&self, within: Range<usize>, name: &str, last: bool) -> Option<(usize, &[u8])> {
        let is_named = |(_, (n, _)): &(usize, (&str, &[u8]))| n.len() == name.len() && n.eq_ignore_ascii_case(name);
        let mut fields = self.fields().enumerate().skip(within.start).take(within.len());
        let found = if last { fields.rfind(is_named) } else { fields.find(is_named) };
        found.map(|(i, (_, v))| (i, v))
    }

    /// The fields as a `HeaderMap`.
    ///
    /// Every field is there: httparse accepts exactly the names and values
    /// `http` does (RFC 9110 tokens; visible bytes, spaces and tabs). Were
    /// one ever refused, it would be left out, not panic (the fuzzing
    /// target checks that none is).
    pub fn header_map(&self) -> HeaderMap {
        let mut map = HeaderMap::with_capacity(self.stored.fields.len());
        for (name, value) in self.fields() {
            if let (Ok(name), Ok(value)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_bytes(value)) {
                map.append(name, value);
            }
        }
        map
    }

    /// The target as a `Uri`.
    pub fn uri(&self) -> Uri {
        if let Some(uri) = &self.stored.uri {
            return Uri::clone(uri);
        }
        let target = self.target();
        if target == "/" {
            return Uri::from_static("/");
        }
        // `scan_origin_form` accepted it with `http`'s own rules; "/" stands
        // in should that ever differ, rather than a panic.
        Uri::from_maybe_shared(Bytes::copy_from_slice(target.as_bytes())).unwrap_or_else(|_| Uri::from_static("/"))
    }
}

impl Drop for RawHead {
    fn drop(&mut self) {
        // SAFETY: `stored` is not used again: this is the drop.
        let mut stored = unsafe { ManuallyDrop::take(&mut self.stored) };
        if stored.bytes.capacity() > KEEP_CAPACITY || stored.fields.capacity() > KEEP_FIELDS {
            return;
        }
        if stored.uri.is_some() {
            stored.uri = None;
        }
        // At thread exit the pool may be gone already: the buffer is then freed.
        let _ = SPARE.try_with(|s| {
            let mut s = s.borrow_mut();
            if s.len() < SPARE_HEADS {
                s.push(stored);
            }
        });
    }
}

impl std::fmt::Debug for RawHead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawHead").field("target", &self.target()).field("fields", &self.stored.fields.len()).finish()
    }
}

/// Where an origin-form request target (`/path?query#fragment`) has its
/// `?` and where it ends (the fragment, never sent by browsers, is cut as
/// `http`'s `Uri` cuts it); `None` if `Uri` would refuse it.
///
/// The byte classes are those `http` accepts (which follow the WHATWG URL
/// standard's path and query states, plus `"`, `{` and `}` in a path, sent
/// unescaped by some clients); bytes above 0x7F must form valid UTF-8.
pub(super) fn scan_origin_form(target: &[u8]) -> Option<(Option<usize>, usize)> {
    if target.first() != Some(&b'/') || target.len() >= usize::from(u16::MAX) {
        return None;
    }
    let mut high = false;
    let mut query = None;
    let mut end = target.len();
    // The path: one table lookup per byte until something that is not a plain path byte.
    let mut i = 0;
    while i < target.len() {
        match PATH[usize::from(target[i])] {
            OK => {}
            HIGH => high = true,
            QUERY => {
                query = Some(i);
                break;
            }
            FRAGMENT => {
                end = i;
                break;
            }
            _ => return None,
        }
        i += 1;
    }
    if query.is_some() {
        i += 1;
        while i < target.len() {
            match QUERY_PART[usize::from(target[i])] {
                OK => {}
                HIGH => high = true,
                FRAGMENT => {
                    end = i;
                    break;
                }
                _ => return None,
            }
            i += 1;
        }
    }
    if high && std::str::from_utf8(&target[..end]).is_err() {
        return None;
    }
    Some((query, end))
}

/// A byte allowed as it is.
pub(super) const OK: u8 = 0;
/// The `?` that starts the query.
pub(super) const QUERY: u8 = 1;
const FRAGMENT: u8 = 2;
const HIGH: u8 = 3;
const BAD: u8 = 4;

/// Byte classes in a path.
pub(super) const PATH: [u8; 256] = classes(false);
/// Byte classes in a query (`?` is a plain byte there).
pub(super) const QUERY_PART: [u8; 256] = classes(true);

const fn classes(query: bool) -> [u8; 256] {
    let mut t = [BAD; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = match b {
            b'#' => FRAGMENT,
            b'?' if !query => QUERY,
            0x80.. => HIGH,
            0x21 | 0x24..=0x3B | 0x3D | 0x3F..=0x7E if query => OK,
            0x21 | 0x24..=0x3B | 0x3D | 0x40..=0x5F | 0x61..=0x7A | 0x7C | 0x7E | b'"' | b'{' | b'}' if !query => OK,
            _ => BAD,
        };
        i += 1;
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_form_is_accepted_exactly_when_uri_accepts_it() {
        // Every byte in a path and in a query, against `http`'s own parser.
        for b in 0u8..=0x7f {
            for target in [vec![b'/', b'a', b], vec![b'/', b'?', b'x', b]] {
                let ours = scan_origin_form(&target).is_some();
                let theirs = Uri::try_from(&target[..]).is_ok();
                assert_eq!(ours, theirs, "{:?}", String::from_utf8_lossy(&target));
            }
        }
        for target in ["/caf\u{e9}", "/a?q=\u{e9}", "/%20?x=%zz"] {
            assert!(scan_origin_form(target.as_bytes()).is_some(), "{target}");
        }
        assert_eq!(scan_origin_form(b"/a\xff"), None, "not UTF-8");
        assert_eq!(scan_origin_form(b"*"), None, "not origin form");
        assert_eq!(scan_origin_form(b"/a?b?c#d?e"), Some((Some(2), 6)));
    }

    fn parse(head: &[u8]) -> RawHead {
        let mut slots = [httparse::EMPTY_HEADER; 8];
        let mut req = httparse::Request::new(&mut slots);
        req.parse(head).unwrap();
        let target = req.path.unwrap().as_bytes();
        let (query, end) = scan_origin_form(target).unwrap();
        RawHead::new(head, &target[..end], query, None, req.headers)
    }

    #[test]
    fn parts_are_read_from_the_bytes() {
        let h = parse(b"GET /a/b?x=1&y#frag HTTP/1.1\r\nHost: h\r\nX-Two: 1\r\nx-two: 2\r\n\r\n");
        assert_eq!((h.target(), h.path(), h.query()), ("/a/b?x=1&y", "/a/b", Some("x=1&y")));
        assert_eq!(h.get("x-TWO"), Some(&b"1"[..]));
        assert_eq!(h.get("missing"), None);
        let map = h.header_map();
        assert_eq!(map.get_all("x-two").iter().collect::<Vec<_>>(), ["1", "2"]);
        assert_eq!(map.len(), 3);
        assert_eq!(h.uri(), "/a/b?x=1&y");
        let h = parse(b"GET /plain HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!((h.path(), h.query()), ("/plain", None));
    }

    #[test]
    fn a_reused_buffer_keeps_no_target_of_the_head_before() {
        SPARE.with(|s| s.borrow_mut().clear());
        let uri = Box::new(Uri::from_static("http://example.com/a"));
        // The target kept is empty, a sub-slice of the head, as the parser gives it.
        let head = b"GET http://example.com/a HTTP/1.1\r\n\r\n";
        let h = RawHead::new(head, &head[4..4], None, Some(uri), &[]);
        assert_eq!(h.other_form().map(|u| u.to_string()).as_deref(), Some("http://example.com/a"));
        assert_eq!(h.uri(), "http://example.com/a");
        drop(h);
        assert_eq!(SPARE.with(|s| s.borrow().len()), 1);
        let h = parse(b"GET /x HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!(SPARE.with(|s| s.borrow().len()), 0, "the spare was taken");
        assert!(h.other_form().is_none());
        assert_eq!(h.uri(), "/x");
    }

    #[test]
    fn buffers_are_reused_and_large_ones_freed() {
        SPARE.with(|s| s.borrow_mut().clear());
        drop(parse(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n"));
        assert_eq!(SPARE.with(|s| s.borrow().len()), 1);
        let h = parse(b"GET /x HTTP/1.1\r\nHost: h\r\n\r\n");
        assert_eq!(SPARE.with(|s| s.borrow().len()), 0, "the spare was taken");
        assert_eq!(h.path(), "/x");
        drop(h);
        let big = format!("GET / HTTP/1.1\r\nHost: h\r\nX: {}\r\n\r\n", "v".repeat(KEEP_CAPACITY));
        let h = parse(big.as_bytes());
        assert_eq!(SPARE.with(|s| s.borrow().len()), 0);
        drop(h);
        assert_eq!(SPARE.with(|s| s.borrow().len()), 0, "a buffer grown past the bound is freed");
    }
}
