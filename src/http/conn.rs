//! The connection loop.
