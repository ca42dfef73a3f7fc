//! Byte strings read eight bytes at a time, inline: for the short keys of
//! the request path (route patterns, the watchdog's label), where a call
//! to `memcmp` costs more than the comparison.

/// Eight bytes of `b` from `at`, little-endian (`at + 8 <= b.len()`).
#[inline(always)]
pub(crate) fn word(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap_or_default())
}

/// Four bytes of `b` from `at`, little-endian (`at + 4 <= b.len()`).
#[inline(always)]
pub(crate) fn half(b: &[u8], at: usize) -> u64 {
    u64::from(u32::from_le_bytes(b[at..at + 4].try_into().unwrap_or_default()))
}

/// `a == b`, compared a word at a time inline (no call to `memcmp`).
#[inline]
pub(crate) fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let n = a.len();
    if n >= 8 {
        let mut at = 0;
        while at + 8 < n {
            if word(a, at) != word(b, at) {
                return false;
            }
            at += 8;
        }
        word(a, n - 8) == word(b, n - 8)
    } else if n >= 4 {
        half(a, 0) == half(b, 0) && half(a, n - 4) == half(b, n - 4)
    } else {
        // Positions 0, n / 2 and n - 1 are every byte of a slice this short.
        n == 0 || (a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_compare_like_slices() {
        let all: Vec<Vec<u8>> = (0..20).map(|n| (0..n).map(|i| b'a' + i as u8).collect()).collect();
        for a in &all {
            for b in &all {
                assert_eq!(same_bytes(a, b), a == b);
                let mut c = b.clone();
                if let Some(last) = c.last_mut() {
                    *last = b'!';
                    assert!(!same_bytes(b, &c));
                    c[0] = b'!';
                    assert!(!same_bytes(b, &c));
                }
            }
        }
    }
}
