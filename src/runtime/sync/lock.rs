//! The std mutex every primitive here holds for a few instructions.

/// Locks a std mutex, ignoring poisoning: our critical sections never panic
/// half-way through an update.
pub(super) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
