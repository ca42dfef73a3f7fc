//! The last common response head, kept whole for the next response that
//! would write the same bytes.

use http::HeaderValue;

/// The last `200 OK` head of the common form (HTTP/1.1, keep-alive, one
/// `Content-Type`, a body of known length, the worker's `Date` and `Server`
/// fields) a worker wrote, byte for byte.
///
/// A server answering one route over and over (a health check, a hot API
/// endpoint) writes the same head for every response until its `Date`
/// changes: the same type, the same length. Copying the kept head is one
/// copy of about 150 bytes, where building it is five pieces, the length's
/// digits formatted and a reservation. Whoever owns the `Date` and `Server`
/// fields [`clear`](Self::clear)s it when they change.
#[derive(Debug, Default)]
pub(crate) struct OkHead {
    /// The head, empty when none is kept.
    bytes: Vec<u8>,
    /// The body length its `Content-Length` says.
    length: u64,
    /// Its `Content-Type` value, held: while it is, bytes at its address
    /// are its bytes, so a value at the same address (the same constant,
    /// or the same shared value) is the same without a comparison.
    content_type: Option<HeaderValue>,
}

impl OkHead {
    /// Forgets the kept head (the `Date` or `Server` field changed).
    pub(crate) fn clear(&mut self) {
        self.bytes.clear();
        self.content_type = None;
    }

    /// Appends the kept head to `out` if it is the one for a body of
    /// `length` bytes of type `content_type`; false (nothing written) if not.
    #[inline]
    pub(super) fn write(&self, content_type: &HeaderValue, length: u64, out: &mut Vec<u8>) -> bool {
        let Some(kept) = &self.content_type else { return false };
        if length != self.length || self.bytes.is_empty() {
            return false;
        }
        let (a, b) = (kept.as_bytes(), content_type.as_bytes());
        if a.len() != b.len() || !(std::ptr::eq(a.as_ptr(), b.as_ptr()) || a == b) {
            return false;
        }
        out.extend_from_slice(&self.bytes);
        true
    }

    /// Keeps `head`, the head for a body of `length` bytes of type `content_type`.
    pub(super) fn keep(&mut self, head: &[u8], content_type: &HeaderValue, length: u64) {
        self.bytes.clear();
        self.bytes.extend_from_slice(head);
        self.content_type = Some(content_type.clone());
        self.length = length;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\nContent-Length: 13\r\nDate: x\r\n\r\n";

    #[test]
    fn the_kept_head_is_written_for_the_same_type_and_length_only() {
        let mut k = OkHead::default();
        let mut out = b"earlier".to_vec();
        let text = HeaderValue::from_static("text/plain");
        assert!(!k.write(&text, 13, &mut out), "nothing kept yet");
        k.keep(HEAD, &text, 13);
        // The same bytes at another address are the same type.
        let copy = HeaderValue::from_str("text/plain").unwrap();
        assert!(k.write(&copy, 13, &mut out));
        assert!(k.write(&text, 13, &mut out));
        assert_eq!(out, [&b"earlier"[..], HEAD, HEAD].concat());
        let before = out.len();
        assert!(!k.write(&text, 14, &mut out), "another length");
        assert!(!k.write(&HeaderValue::from_static("text/plaim"), 13, &mut out), "another type");
        assert!(!k.write(&HeaderValue::from_static("text/plai"), 13, &mut out), "a prefix of it");
        assert_eq!(out.len(), before, "a miss writes nothing");
        k.clear();
        assert!(!k.write(&text, 13, &mut out), "cleared with the date");
    }
}
