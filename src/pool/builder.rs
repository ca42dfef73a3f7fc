//! A pool's settings: its size and how long it waits.
//!
//! [`Builder::build`], which makes the pool from them, is with the pool itself.

use std::sync::Arc;
use std::time::Duration;

/// How a pool is sized and how long it waits. See [`builder`].
#[derive(Clone, Debug)]
pub struct Builder {
    pub(super) name: Arc<str>,
    pub(super) max_size: usize,
    pub(super) min_idle: usize,
    pub(super) acquire_timeout: Duration,
    pub(super) check_after_idle: Duration,
}

impl Default for Builder {
    fn default() -> Builder {
        Builder {
            name: "pool".into(),
            max_size: 16,
            min_idle: 0,
            acquire_timeout: Duration::from_secs(5),
            check_after_idle: Duration::from_secs(2),
        }
    }
}

/// A [`Builder`] with the defaults: `pool::builder().max_size(64).build(manager)`.
pub fn builder() -> Builder {
    Builder::default()
}

impl Builder {
    /// The pool's name in errors and metrics (`postgres`, `redis`, ...).
    pub fn name(mut self, name: &str) -> Builder {
        self.name = name.into();
        self
    }

    /// Most connections open at once, in use or idle (default 16; at least 1).
    pub fn max_size(mut self, n: usize) -> Builder {
        self.max_size = n.max(1);
        self
    }

    /// Connections opened in the background when the pool is built and
    /// kept open after discards, so the first requests find one ready
    /// (default 0; at most `max_size`).
    pub fn min_idle(mut self, n: usize) -> Builder {
        self.min_idle = n;
        self
    }

    /// How long [`Pool::get`](crate::pool::Pool::get) may wait for a
    /// connection (opening one included) before it fails with
    /// [`PoolError::Timeout`](crate::pool::PoolError::Timeout) (default 5 s).
    pub fn acquire_timeout(mut self, t: Duration) -> Builder {
        self.acquire_timeout = t;
        self
    }

    /// A connection idle longer than this is checked with
    /// [`Manager::check`](crate::pool::Manager::check) before it is handed
    /// out (default 2 s; zero checks every checkout). A connection used
    /// moments ago is almost surely alive, and checking it would cost a
    /// round trip per request; one that broke in between fails one call,
    /// and is then discarded.
    pub fn check_after_idle(mut self, t: Duration) -> Builder {
        self.check_after_idle = t;
        self
    }
}
