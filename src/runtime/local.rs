//! Green-thread-local storage: one value per green thread, not per OS thread.
//!
//! A `thread_local!` is shared by every green thread on a loop, so request
//! context stored in one leaks into whichever request runs next. Use a
//! [`LocalKey`] instead.

use std::any::Any;
use std::marker::PhantomData;
use std::rc::Rc;

use super::core::try_core;

/// A key for one value per green thread.
///
/// ```
/// static REQUEST_ID: greenloop::LocalKey<u64> = greenloop::LocalKey::new();
///
/// greenloop::run(|| {
///     let a = greenloop::spawn(|| { REQUEST_ID.set(1); greenloop::yield_now(); REQUEST_ID.get() });
///     let b = greenloop::spawn(|| { REQUEST_ID.set(2); greenloop::yield_now(); REQUEST_ID.get() });
///     assert_eq!(a.join().unwrap(), Some(1));
///     assert_eq!(b.join().unwrap(), Some(2));
/// });
/// ```
///
/// Values are dropped when their green thread ends, whichever way: also
/// when a stack overflow discards its stack without running the destructors
/// of its frames. So what a green thread must give back even then (a
/// server connection's slot, say) belongs here, not in a local variable
/// (see `overflow`'s module docs). Outside a green thread there is no value:
/// `with` sees `None` and `set` panics.
pub struct LocalKey<T: 'static> {
    // Non-zero size: every key static has its own address, which is its identity.
    _unique: u8,
    _marker: PhantomData<fn() -> T>,
}

impl<T: 'static> std::fmt::Debug for LocalKey<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalKey").field("type", &std::any::type_name::<T>()).finish_non_exhaustive()
    }
}

impl<T: 'static> Default for LocalKey<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: 'static> LocalKey<T> {
    /// A new key; declare it as a `static`.
    pub const fn new() -> LocalKey<T> {
        LocalKey { _unique: 0, _marker: PhantomData }
    }

    fn id(&'static self) -> usize {
        self as *const Self as usize
    }

    fn slot(&'static self) -> Option<Rc<dyn Any>> {
        let task = try_core()?.current_task()?;
        let locals = task.locals.borrow();
        locals.iter().find(|(k, _)| *k == self.id()).map(|(_, v)| v.clone())
    }

    /// Sets this green thread's value, returning the previous one.
    ///
    /// # Panics
    /// Outside a green thread.
    pub fn set(&'static self, value: T) -> Option<T> {
        let old = self.take();
        let task = try_core()
            .and_then(|c| c.current_task())
            .expect("greenloop::LocalKey::set must be called on a green thread");
        task.locals.borrow_mut().push((self.id(), Rc::new(value)));
        old
    }

    /// Calls `f` with this green thread's value, if any.
    pub fn with<R>(&'static self, f: impl FnOnce(Option<&T>) -> R) -> R {
        let slot = self.slot();
        f(slot.as_ref().and_then(|v| v.downcast_ref::<T>()))
    }

    /// A clone of this green thread's value.
    pub fn get(&'static self) -> Option<T>
    where
        T: Clone,
    {
        self.with(|v| v.cloned())
    }

    /// Removes and returns this green thread's value. Returns `None` when
    /// called from inside [`LocalKey::with`] on the same key (the value is
    /// still lent out).
    pub fn take(&'static self) -> Option<T> {
        let task = try_core()?.current_task()?;
        let mut locals = task.locals.borrow_mut();
        let pos = locals.iter().position(|(k, _)| *k == self.id())?;
        let (_, value) = locals.swap_remove(pos);
        drop(locals);
        let value = value.downcast::<T>().ok()?;
        Rc::try_unwrap(value).ok()
    }
}
