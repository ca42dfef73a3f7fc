//! Built-in middleware (STUB).
