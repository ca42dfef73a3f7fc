//! Header maps recycled per thread: a response whose map was made takes
//! one a written response gave back, emptied but with its room.
//!
//! A `HeaderMap` holding one field has made two allocations (its index
//! table and its entries) and the box a third; middleware that adds a
//! field to every response (a request id, `Vary`, CORS) would pay them on
//! every request.

use std::cell::RefCell;

use http::HeaderMap;

/// Maps kept per thread: more than the responses a loop builds between two writes.
const KEEP: usize = 16;
/// A map grown past this many fields is let go, not kept.
const MAX_FIELDS: usize = 16;

thread_local! {
    #[allow(clippy::vec_box)] // boxed: a response holds one pointer, and a spare moves as one.
    static SPARE: RefCell<Vec<Box<HeaderMap>>> = const { RefCell::new(Vec::new()) };
}

/// An empty map: a spare one, or a new one.
pub(super) fn take() -> Box<HeaderMap> {
    SPARE.try_with(|s| s.borrow_mut().pop()).ok().flatten().unwrap_or_default()
}

/// Keeps `map` (emptied) for a later response, unless it grew large or
/// the thread keeps enough already. `len` counts every value (`capacity`
/// only the names' room): a map that held many values of one name (a
/// dozen `Set-Cookie`) keeps their room after `clear`, so it is let go.
pub(super) fn give(mut map: Box<HeaderMap>) {
    if map.capacity() == 0 || map.capacity() > MAX_FIELDS || map.len() > MAX_FIELDS {
        return;
    }
    map.clear();
    // At thread exit the pool may be gone already: the map is then freed.
    let _ = SPARE.try_with(|s| {
        let mut s = s.borrow_mut();
        if s.len() < KEEP {
            s.push(map);
        }
    });
}

#[cfg(test)]
pub(super) fn spare_count() -> usize {
    SPARE.with(|s| s.borrow().len())
}
