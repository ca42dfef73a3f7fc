//! The server (STUB).
use std::rc::Rc;

/// Limits.
#[derive(Clone, Debug, Default)]
pub struct Limits {}

/// Server.
pub struct Server {}

impl Server {
    /// Binds.
    pub fn bind(_addr: &str) -> Server {
        Server {}
    }
    /// Serves.
    pub fn serve(self, _app: impl Into<super::App>) -> std::io::Result<()> {
        Ok(())
    }
}

/// Shutdown handle.
#[derive(Clone)]
pub struct ShutdownHandle {}

/// Worker id.
pub fn worker_id() -> Option<usize> {
    None
}

/// Worker state.
pub fn worker_state<T: 'static>() -> Option<Rc<T>> {
    None
}
