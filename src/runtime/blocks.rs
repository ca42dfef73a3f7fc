//! Per-thread 1 KiB buffer blocks, carved from 64 KiB mappings of their own.
//!
//! Every connection's read buffer starts at 1 KiB. Taken from the heap, a
//! buffer lies between the connection's long-lived objects; freed when the
//! connection falls asleep between requests, it leaves a 1 KiB hole that no
//! whole page is free around, so the memory stays resident (about 1 KiB per
//! sleeping connection, measured). Taken from here, buffers share pages only
//! with each other: the loop's stack sweep gives back (`MADV_DONTNEED`)
//! every page whose four blocks are all free, and the next use of such a
//! page maps a zeroed one. Mappings are kept once made (their address space
//! only; their pages go back).
//!
//! Blocks are handed out lowest address first, so live buffers pack into
//! few pages. One thread's blocks go back to that thread's pool: [`Block`]
//! is not `Send`.

use std::cell::RefCell;
use std::marker::PhantomData;
use std::ptr::NonNull;

/// The size of a block.
pub(crate) const BLOCK: usize = 1024;
const PER_CHUNK: usize = 64;
const CHUNK: usize = BLOCK * PER_CHUNK;
const PAGE_BLOCKS: usize = 4;

struct Chunk {
    base: NonNull<u8>,
    /// Bit `i` set: block `i` is free.
    free: u64,
    /// Bit `p` set: page `p` (blocks `4p..4p+4`) was given back and is free still.
    discarded: u16,
}

#[derive(Default)]
struct Pool {
    chunks: Vec<Chunk>,
    /// No chunk below this index has a free block.
    first_free: usize,
    /// Some free page has not been given back.
    dirty: bool,
}

thread_local! {
    static POOL: RefCell<Pool> = RefCell::new(Pool::default());
}

/// A 1 KiB buffer from this thread's pool; back to it when dropped.
pub(crate) struct Block {
    ptr: NonNull<u8>,
    chunk: u32,
    index: u8,
    // Belongs to this thread's pool.
    _not_send: PhantomData<*const ()>,
}

impl Block {
    /// A block, or `None` when no mapping could be made.
    pub(crate) fn take() -> Option<Block> {
        POOL.try_with(|p| p.borrow_mut().take()).ok().flatten()
    }

    pub(crate) fn as_slice(&self) -> &[u8] {
        // SAFETY: `ptr` is the start of a BLOCK-byte block of a live mapping
        // (mappings are never unmapped while the thread lives), owned by this
        // `Block` alone until it is dropped.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), BLOCK) }
    }

    pub(crate) fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as in `as_slice`, and `&mut self` makes this the only access.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), BLOCK) }
    }
}

impl Drop for Block {
    fn drop(&mut self) {
        // After the thread's pool is gone (thread exit) the block is left
        // in its mapping, which goes with the process.
        let _ = POOL.try_with(|p| p.borrow_mut().give_back(self.chunk as usize, self.index as usize));
    }
}

impl std::fmt::Debug for Block {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Block").field("chunk", &self.chunk).field("index", &self.index).finish()
    }
}

impl Pool {
    fn take(&mut self) -> Option<Block> {
        while self.first_free < self.chunks.len() && self.chunks[self.first_free].free == 0 {
            self.first_free += 1;
        }
        if self.first_free == self.chunks.len() {
            let base = crate::sys::map_anonymous(CHUNK).ok()?;
            self.chunks.push(Chunk { base, free: u64::MAX, discarded: 0 });
        }
        let c = self.first_free;
        let chunk = &mut self.chunks[c];
        let index = chunk.free.trailing_zeros() as usize;
        chunk.free &= !(1 << index);
        chunk.discarded &= !(1 << (index / PAGE_BLOCKS));
        // SAFETY: index < 64 and the mapping is CHUNK = 64 blocks long.
        let ptr = unsafe { NonNull::new_unchecked(chunk.base.as_ptr().add(index * BLOCK)) };
        Some(Block { ptr, chunk: c as u32, index: index as u8, _not_send: PhantomData })
    }

    fn give_back(&mut self, c: usize, index: usize) {
        let chunk = &mut self.chunks[c];
        chunk.free |= 1 << index;
        let page = index / PAGE_BLOCKS;
        if (chunk.free >> (page * PAGE_BLOCKS)) & 0xf == 0xf {
            self.dirty = true;
        }
        self.first_free = self.first_free.min(c);
    }

    /// Gives back every free page not given back yet.
    fn discard_free_pages(&mut self) {
        if !std::mem::take(&mut self.dirty) {
            return;
        }
        let page = crate::sys::page_size();
        if page != PAGE_BLOCKS * BLOCK {
            // Other page sizes: the pages of wholly free chunks only.
            for chunk in &mut self.chunks {
                if chunk.free == u64::MAX && chunk.discarded != u16::MAX {
                    // SAFETY: the whole chunk is free: no block of it is in use.
                    unsafe { crate::sys::discard_pages(chunk.base.as_ptr() as usize, CHUNK) };
                    chunk.discarded = u16::MAX;
                }
            }
            return;
        }
        for chunk in &mut self.chunks {
            for p in 0..PER_CHUNK / PAGE_BLOCKS {
                let all_free = (chunk.free >> (p * PAGE_BLOCKS)) & 0xf == 0xf;
                if all_free && chunk.discarded & (1 << p) == 0 {
                    let addr = chunk.base.as_ptr() as usize + p * page;
                    // SAFETY: the four blocks of this page are free: nothing
                    // holds them, and the next taker writes before it reads.
                    unsafe { crate::sys::discard_pages(addr, page) };
                    chunk.discarded |= 1 << p;
                }
            }
        }
    }
}

/// Gives back the pages of this thread's pool whose blocks are all free
/// (the loop's stack sweep calls it).
pub(crate) fn discard_free_pages() {
    let _ = POOL.try_with(|p| p.borrow_mut().discard_free_pages());
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    #[test]
    fn blocks_pack_low_and_free_pages_go_back() {
        let blocks: Vec<Block> = (0..64).map(|_| Block::take().unwrap()).collect();
        let base = blocks[0].ptr.as_ptr() as usize;
        for (i, b) in blocks.iter().enumerate() {
            assert_eq!(b.ptr.as_ptr() as usize, base + i * BLOCK, "packed in order");
        }
        let mut blocks = blocks;
        for b in &mut blocks {
            b.as_mut_slice().fill(0xab);
        }
        let page = crate::sys::page_size();
        assert_eq!(crate::sys::resident_pages(base, CHUNK), CHUNK / page);
        // Free the first two pages' blocks and one block of the third.
        let third_page_first = blocks.remove(8);
        let rest = blocks.split_off(8);
        drop(blocks);
        drop(third_page_first);
        discard_free_pages();
        let resident = crate::sys::resident_pages(base, CHUNK);
        if page == 4096 {
            assert_eq!(resident, CHUNK / page - 2, "two whole free pages went back");
        }
        // A block taken again is the lowest free one, and reads as zeros.
        let again = Block::take().unwrap();
        assert_eq!(again.ptr.as_ptr() as usize, base);
        if page == 4096 {
            assert!(again.as_slice().iter().all(|&b| b == 0), "a given-back page maps zeroed");
        }
        assert!(rest.iter().all(|b| b.as_slice().iter().all(|&x| x == 0xab)), "live blocks keep their bytes");
    }
}
