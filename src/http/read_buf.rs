//! The bytes read from a socket and not consumed yet: one type for the
//! server's connections and the client's.

use crate::runtime::blocks::{BLOCK, Block};

/// A read buffer: the unread bytes are `buf[start..end]`, and reads go to
/// `buf[end..]`, made room for by moving the unread bytes to the front or,
/// when the buffer is full of them, by doubling it.
#[derive(Debug)]
pub(crate) struct ReadBuf {
    buf: Store,
    start: usize,
    end: usize,
    /// Smallest size the buffer grows to.
    min_grow: usize,
}

/// A buffer's bytes: a 1 KiB block from the thread's pool (the common
/// size: every connection's first), or the heap.
#[derive(Debug)]
enum Store {
    Block(Block),
    Heap(Vec<u8>),
}

impl Store {
    fn with_len(len: usize) -> Store {
        if len == BLOCK
            && let Some(b) = Block::take()
        {
            return Store::Block(b);
        }
        Store::Heap(vec![0; len])
    }
}

impl std::ops::Deref for Store {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Store::Block(b) => b.as_slice(),
            Store::Heap(v) => v,
        }
    }
}

impl std::ops::DerefMut for Store {
    fn deref_mut(&mut self) -> &mut [u8] {
        match self {
            Store::Block(b) => b.as_mut_slice(),
            Store::Heap(v) => v,
        }
    }
}

impl ReadBuf {
    /// An empty buffer with `initial` bytes of room now (0: none until the
    /// first read), growing to at least `min_grow` when full. 1 KiB
    /// buffers come from the thread's pool of blocks
    /// ([`blocks`](crate::runtime::blocks)): freed, they do not leave holes
    /// in the heap.
    pub(crate) fn new(initial: usize, min_grow: usize) -> ReadBuf {
        ReadBuf { buf: Store::with_len(initial), start: 0, end: 0, min_grow }
    }

    /// The bytes read and not consumed yet.
    pub(crate) fn unread(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// How many bytes are unread.
    pub(crate) fn len(&self) -> usize {
        self.end - self.start
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// Marks the first `n` unread bytes as consumed.
    pub(crate) fn consume(&mut self, n: usize) {
        debug_assert!(n <= self.len());
        self.start += n;
        if self.start == self.end {
            self.clear();
        }
    }

    /// Moves up to `out.len()` unread bytes into `out`; returns how many.
    #[cfg(test)]
    pub(crate) fn take(&mut self, out: &mut [u8]) -> usize {
        let n = out.len().min(self.len());
        out[..n].copy_from_slice(&self.buf[self.start..self.start + n]);
        self.consume(n);
        n
    }

    /// Drops every unread byte.
    pub(crate) fn clear(&mut self) {
        self.start = 0;
        self.end = 0;
    }

    /// Room for the next read (never empty); report what was read into it
    /// with [`filled`](Self::filled).
    pub(crate) fn spare(&mut self) -> &mut [u8] {
        if self.end == self.buf.len() && self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            let len = (self.buf.len() * 2).max(self.min_grow);
            match &mut self.buf {
                Store::Heap(v) if !v.is_empty() => v.resize(len, 0),
                _ => {
                    let mut grown = Store::with_len(len);
                    grown[..self.end].copy_from_slice(&self.buf[..self.end]);
                    self.buf = grown;
                }
            }
        }
        &mut self.buf[self.end..]
    }

    /// Counts `n` bytes just read into [`spare`](Self::spare).
    pub(crate) fn filled(&mut self, n: usize) {
        debug_assert!(self.end + n <= self.buf.len());
        self.end += n;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(b: &mut ReadBuf, data: &[u8]) {
        let room = b.spare();
        assert!(room.len() >= data.len(), "room {} for {}", room.len(), data.len());
        room[..data.len()].copy_from_slice(data);
        b.filled(data.len());
    }

    #[test]
    fn reads_consumes_compacts_and_grows() {
        let mut b = ReadBuf::new(0, 8);
        assert_eq!(b.spare().len(), 8, "the first read grows an empty buffer to min_grow");
        read(&mut b, b"abcdef");
        assert_eq!(b.unread(), b"abcdef");
        b.consume(4);
        assert_eq!((b.unread(), b.len()), (&b"ef"[..], 2));
        read(&mut b, b"gh");
        // Full (end == 8) with 4 consumed bytes in front: compacted, not grown.
        assert_eq!(b.spare().len(), 4);
        assert_eq!(b.unread(), b"efgh");
        read(&mut b, b"ijkl");
        // Full of unread bytes: doubled.
        assert_eq!(b.spare().len(), 8);
        assert_eq!(b.unread(), b"efghijkl");
        let mut out = [0; 3];
        assert_eq!(b.take(&mut out), 3);
        assert_eq!((&out, b.unread()), (b"efg", &b"hijkl"[..]));
        let mut big = [0; 32];
        assert_eq!(b.take(&mut big), 5);
        assert!(b.is_empty());
        assert_eq!(b.spare().len(), 16, "all consumed: reads start at the front again");
    }
}
