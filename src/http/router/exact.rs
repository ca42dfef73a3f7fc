//! The router's table of routes without parameters, looked up by the whole
//! path before `matchit`'s tree.
//!
//! Most requests are for routes without parameters (`/`, `/health`,
//! `/api/users`). Walking `matchit`'s tree to find one costs about 200
//! instructions (a byte-wise descent, then a `Params` set up and moved);
//! hashing the path and comparing it with one stored key costs a quarter of
//! that. The answer is the same: `matchit` gives a static route priority
//! over any parameter or catch-all that also matches its path, so a path
//! equal to a pattern without parameters always matches that pattern.
//! Patterns with braces (parameters, or the escaped `{{`/`}}`) are left to
//! `matchit` alone.

use crate::http::codec::words::{half, same_bytes, word};

/// Patterns without parameters, each to its index in the router's endpoints:
/// an open-addressing table (linear probing, at most half full) of the
/// patterns' hashes, so that a lookup is one hash of the path, usually one
/// probe and one comparison, all inline.
#[derive(Default)]
pub(super) struct ExactPaths {
    /// A power of two in length (or empty).
    slots: Box<[Option<Slot>]>,
    len: usize,
}

struct Slot {
    hash: u64,
    key: Box<[u8]>,
    endpoint: usize,
}

impl ExactPaths {
    /// Adds `pattern` if it has no parameters (no brace at all).
    pub(super) fn insert(&mut self, pattern: &str, endpoint: usize) {
        if pattern.contains(['{', '}']) {
            return;
        }
        if (self.len + 1) * 2 > self.slots.len() {
            let old = std::mem::take(&mut self.slots);
            self.slots = (0..(old.len() * 2).max(8)).map(|_| None).collect();
            self.len = 0;
            for s in old.into_vec().into_iter().flatten() {
                self.put(s);
            }
        }
        let key = pattern.as_bytes();
        self.put(Slot { hash: hash(key), key: key.into(), endpoint });
    }

    /// Stores `slot` (replacing one with the same key), the table having room.
    fn put(&mut self, slot: Slot) {
        let mask = self.slots.len() - 1;
        let mut i = slot.hash as usize & mask;
        loop {
            match &mut self.slots[i] {
                Some(s) if s.key == slot.key => {
                    s.endpoint = slot.endpoint;
                    return;
                }
                Some(_) => i = (i + 1) & mask,
                empty @ None => {
                    *empty = Some(slot);
                    self.len += 1;
                    return;
                }
            }
        }
    }

    /// The endpoint whose pattern is `path` byte for byte.
    #[inline]
    pub(super) fn get(&self, path: &str) -> Option<usize> {
        if self.len == 0 {
            return None;
        }
        let path = path.as_bytes();
        let h = hash(path);
        let mask = self.slots.len() - 1;
        let mut i = h as usize & mask;
        // The table is at most half full: an empty slot ends every probe.
        while let Some(s) = &self.slots[i] {
            if s.hash == h && same_bytes(&s.key, path) {
                return Some(s.endpoint);
            }
            i = (i + 1) & mask;
        }
        None
    }

    /// Every pattern and its endpoint (for tests).
    #[cfg(test)]
    pub(super) fn iter(&self) -> impl Iterator<Item = (&str, usize)> {
        self.slots.iter().flatten().map(|s| (std::str::from_utf8(&s.key).unwrap_or(""), s.endpoint))
    }
}

/// `b` read as words: all of it, the last word overlapping the one before
/// when the length is not a multiple of eight (no byte-wise tail, no copy);
/// shorter slices as two overlapping halves or three bytes.
#[inline(always)]
fn for_each_word(b: &[u8], mut f: impl FnMut(u64)) {
    let n = b.len();
    if n >= 8 {
        let mut at = 0;
        while at + 8 < n {
            f(word(b, at));
            at += 8;
        }
        f(word(b, n - 8));
    } else if n >= 4 {
        f(half(b, 0) | half(b, n - 4) << 32);
    } else if n > 0 {
        f(u64::from(b[0]) | u64::from(b[n / 2]) << 8 | u64::from(b[n - 1]) << 16);
    }
}

/// A multiply-rotate hash over eight bytes at a time (the one rustc uses for
/// its own tables), the length mixed in last. The keys are the
/// application's own route patterns and a request path only ever probes
/// them, so there is no table a client could fill with colliding keys: the
/// hash needs to be fast, not keyed.
#[inline]
fn hash(b: &[u8]) -> u64 {
    const K: u64 = 0xf135_7aea_2e62_a9c5;
    let mut h = 0u64;
    for_each_word(b, |w| h = (h.rotate_left(26) ^ w).wrapping_mul(K));
    h = (h.rotate_left(26) ^ b.len() as u64).wrapping_mul(K);
    h ^ (h >> 29)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_patterns_without_braces_are_kept() {
        let mut t = ExactPaths::default();
        t.insert("/a", 0);
        t.insert("/users/{id}", 1);
        t.insert("/{{lit}}", 2);
        t.insert("/b/c", 3);
        assert_eq!(t.get("/a"), Some(0));
        assert_eq!(t.get("/b/c"), Some(3));
        assert_eq!(t.get("/users/{id}"), None);
        assert_eq!(t.get("/{lit}"), None);
        assert_eq!(t.get("/a/"), None);
        assert_eq!(t.get("/A"), None);
        assert_eq!(t.get(""), None);
    }

    #[test]
    fn an_empty_table_finds_nothing() {
        assert_eq!(ExactPaths::default().get("/"), None);
    }

    #[test]
    fn a_pattern_routed_again_keeps_one_slot() {
        let mut t = ExactPaths::default();
        t.insert("/a", 0);
        t.insert("/a", 0);
        assert_eq!(t.len, 1);
        assert_eq!(t.iter().count(), 1);
    }

    #[test]
    fn paths_of_every_length_and_prefix_are_told_apart() {
        let mut t = ExactPaths::default();
        let paths: Vec<String> = (0..40).map(|n| format!("/{}", "x".repeat(n))).collect();
        for (i, p) in paths.iter().enumerate() {
            t.insert(p, i);
        }
        for (i, p) in paths.iter().enumerate() {
            assert_eq!(t.get(p), Some(i), "{p}");
            assert_eq!(t.get(&format!("{p}\0")), None);
        }
    }
}
