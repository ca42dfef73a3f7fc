//! What the server tells the connection layer about the worker running on
//! the caller's thread, without the layers below it importing the server.
//!
//! `metrics`, `debug` and WebSockets need the server's counters and whether
//! its worker is shutting down; the server registers two plain functions
//! here when it starts (dependency inversion: the server's types stay
//! private to it, and this layer never names them).

use std::sync::{Arc, OnceLock};

use super::counters::ServerMetrics;

/// The functions a server registers (the same for every server in the process).
#[derive(Clone, Copy)]
pub(crate) struct Hooks {
    /// The counters of the server whose worker runs the caller, if any.
    pub(crate) metrics: fn() -> Option<Arc<ServerMetrics>>,
    /// Whether the worker running the caller is shutting down (false outside a server).
    pub(crate) shutting_down: fn() -> bool,
}

static HOOKS: OnceLock<Hooks> = OnceLock::new();

/// Registers the server's functions; the first registration wins (they are
/// the same functions every time).
pub(crate) fn register(hooks: Hooks) {
    let _ = HOOKS.set(hooks);
}

/// The counters of the server whose worker runs the caller (`None` outside a
/// server, or before any server started).
pub(crate) fn server_metrics() -> Option<Arc<ServerMetrics>> {
    HOOKS.get().and_then(|h| (h.metrics)())
}

/// Whether the server worker running the caller is shutting down (false
/// outside a server). A long-lived response (a stream of events, a long
/// poll) checks it between writes and ends, so that it does not hold a
/// graceful stop for the whole grace period; a connection's green thread
/// is woken when shutdown begins, so a park ends early to let it look.
pub fn shutting_down() -> bool {
    HOOKS.get().is_some_and(|h| (h.shutting_down)())
}
