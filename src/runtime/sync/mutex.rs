//! A mutual-exclusion lock whose waiters park instead of blocking the loop.

use crate::runtime::thread_info::WaitReason;
use std::cell::UnsafeCell;
use std::ops::{Deref, DerefMut};
use std::time::Duration;

use super::semaphore::{Semaphore, SemaphorePermit};

/// Like `std::sync::Mutex`, but `lock` parks the green thread, so a guard may
/// be held across a park (a sleep, a socket read, another service call)
/// without stalling the loop. Fair: waiters get the lock in arrival order.
/// No poisoning: a green thread that panics while holding the guard releases it.
///
/// ```
/// use std::sync::Arc;
/// let total = greenloop::run(|| {
///     let m = Arc::new(greenloop::sync::Mutex::new(0));
///     let tasks = (0..10).map(|_| { let m = m.clone(); move || {
///         let mut g = m.lock();
///         let v = *g;
///         greenloop::yield_now(); // others run, but none can enter
///         *g = v + 1;
///     }});
///     greenloop::join_all(tasks);
///     let n = *m.lock();
///     n
/// });
/// assert_eq!(total, 10);
/// ```
pub struct Mutex<T: ?Sized> {
    sem: Semaphore,
    value: UnsafeCell<T>,
}

// SAFETY: as for std's Mutex: the semaphore admits one guard at a time, so
// `&Mutex<T>` only ever gives `&mut T` to one thread at once.
unsafe impl<T: ?Sized + Send> Send for Mutex<T> {}
// SAFETY: see above.
unsafe impl<T: ?Sized + Send> Sync for Mutex<T> {}

/// Exclusive access to a [`Mutex`]'s value; unlocks when dropped.
///
/// Like std's guard, it is `Sync` only when the value is: sharing a guard
/// of a `Cell` between threads does not compile.
///
/// ```compile_fail
/// let m = greenloop::sync::Mutex::new(std::cell::Cell::new(0));
/// let g = m.lock();
/// std::thread::scope(|s| {
///     s.spawn(|| g.set(1));
///     g.set(2);
/// });
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct MutexGuard<'a, T: ?Sized> {
    mutex: &'a Mutex<T>,
    _permit: SemaphorePermit<'a>,
    /// Makes the guard `Sync` only when `T` is (as `&mut T` is): a guard
    /// shared between threads hands out `&T` to all of them.
    _value: std::marker::PhantomData<&'a mut T>,
}

impl<T> Mutex<T> {
    /// A new unlocked mutex.
    pub const fn new(value: T) -> Mutex<T> {
        Mutex { sem: Semaphore::new(1), value: UnsafeCell::new(value) }
    }

    /// The value, consuming the mutex.
    pub fn into_inner(self) -> T {
        self.value.into_inner()
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Waits (parks) for the lock.
    pub fn lock(&self) -> MutexGuard<'_, T> {
        MutexGuard { _permit: self.sem.acquire_for(WaitReason::Lock), mutex: self, _value: std::marker::PhantomData }
    }

    /// Takes the lock if it is free.
    pub fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
        self.sem.try_acquire().map(|p| MutexGuard { _permit: p, mutex: self, _value: std::marker::PhantomData })
    }

    /// Waits at most `timeout` for the lock.
    pub fn lock_timeout(&self, timeout: Duration) -> Option<MutexGuard<'_, T>> {
        self.sem.acquire_timeout_for(timeout, WaitReason::Lock).map(|p| MutexGuard {
            _permit: p,
            mutex: self,
            _value: std::marker::PhantomData,
        })
    }

    /// Mutable access without locking (the borrow proves exclusivity).
    pub fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Self {
        Mutex::new(T::default())
    }
}

impl<T: ?Sized> std::fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Mutex { .. }")
    }
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds the only permit, so no other reference exists.
        unsafe { &*self.mutex.value.get() }
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`, and `&mut self` makes this the only borrow.
        unsafe { &mut *self.mutex.value.get() }
    }
}

impl<T: ?Sized + std::fmt::Debug> std::fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&**self, f)
    }
}
