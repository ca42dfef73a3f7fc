//! A cached `Date` header value (RFC 9110 §5.6.7 IMF-fixdate), reformatted
//! at most once per second.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Length of an IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
pub const DATE_LEN: usize = 29;

/// Last second representable as a four-digit year (9999-12-31T23:59:59Z).
const MAX_SECS: u64 = 253_402_300_799;

/// Holds the formatted `Date` value for the current second. Keep one per
/// worker thread (it is tiny and needs `&mut` to refresh).
#[derive(Debug, Clone)]
pub struct DateCache {
    secs: u64,
    buf: [u8; DATE_LEN],
}

impl Default for DateCache {
    fn default() -> Self {
        Self::new()
    }
}

impl DateCache {
    /// An empty cache; the first [`get`](Self::get) formats the date.
    pub fn new() -> Self {
        DateCache { secs: u64::MAX, buf: *b"Thu, 01 Jan 1970 00:00:00 GMT" }
    }

    /// The IMF-fixdate for `now` (29 bytes), reformatted only when the whole
    /// second differs from the cached one. Times before 1970 or after 9999
    /// are clamped.
    #[inline]
    pub fn get(&mut self, now: SystemTime) -> &[u8; DATE_LEN] {
        let secs = match now.duration_since(UNIX_EPOCH) {
            Ok(d) => d.as_secs().min(MAX_SECS),
            Err(_) => 0,
        };
        if secs != self.secs {
            self.refresh(secs);
        }
        &self.buf
    }

    #[cold]
    fn refresh(&mut self, secs: u64) {
        let date = httpdate::HttpDate::from(UNIX_EPOCH + Duration::from_secs(secs));
        let mut w = FixedWriter { buf: &mut self.buf, len: 0 };
        // The formatted date is always exactly DATE_LEN bytes; if it were
        // not, the writer reports an error and we keep the old value.
        if fmt::write(&mut w, format_args!("{date}")).is_ok() && w.len == DATE_LEN {
            self.secs = secs;
        }
    }
}

/// `fmt::Write` into a fixed array, failing instead of overflowing.
struct FixedWriter<'a> {
    buf: &'a mut [u8; DATE_LEN],
    len: usize,
}

impl fmt::Write for FixedWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len.checked_add(s.len()).ok_or(fmt::Error)?;
        let dst = self.buf.get_mut(self.len..end).ok_or(fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_rfc_example() {
        let mut c = DateCache::new();
        let t = UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(c.get(t), b"Sun, 06 Nov 1994 08:49:37 GMT");
    }

    #[test]
    fn refreshes_only_on_new_second() {
        let mut c = DateCache::new();
        let t = UNIX_EPOCH + Duration::from_secs(784_111_777);
        c.get(t);
        assert_eq!(c.get(t + Duration::from_millis(999)), b"Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(c.get(t + Duration::from_secs(1)), b"Sun, 06 Nov 1994 08:49:38 GMT");
        // Going back in time works too.
        assert_eq!(c.get(t), b"Sun, 06 Nov 1994 08:49:37 GMT");
    }

    #[test]
    fn clamps_out_of_range_times() {
        let mut c = DateCache::new();
        let before = UNIX_EPOCH - Duration::from_secs(10);
        assert_eq!(c.get(before), b"Thu, 01 Jan 1970 00:00:00 GMT");
        let far = UNIX_EPOCH + Duration::from_secs(MAX_SECS + 1_000_000);
        assert_eq!(c.get(far), b"Fri, 31 Dec 9999 23:59:59 GMT");
        let now = c.get(SystemTime::now());
        assert_eq!(now.len(), DATE_LEN);
        assert!(now.ends_with(b" GMT"));
    }
}
