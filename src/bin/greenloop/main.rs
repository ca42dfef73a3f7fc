//! Placeholder while the router lands.
fn main() {}
