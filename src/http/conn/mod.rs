//! The connection layer: the bytes of one connection, below every type a
//! handler touches.
//!
//! [`stream`] is the one plain-or-TLS socket both the server and the client
//! talk through (the only place that knows whether TLS is compiled in),
//! [`inbound`] frames a request body as its bytes arrive, [`write`] sends
//! responses (one buffer for pipelined answers, chunked and raw body
//! writers), [`counters`] are
//! the per-worker figures `metrics` and `debug` render, and [`serving`] is
//! what the server above tells this layer about the worker running on the
//! caller's thread. `Body`, `upgrade`, `metrics` and `debug` use this module
//! from below; `server/` and `client/` sit on top of all of them. Nothing
//! here imports from `server/` or `client/` (`scripts/layers.py` checks).

pub(crate) mod counters;
mod hangup;
pub(crate) mod inbound;
pub(crate) mod serving;
pub(crate) mod stream;
pub(crate) mod write;
