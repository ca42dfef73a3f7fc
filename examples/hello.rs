//! Hello world: the smallest greenloop server.
//!
//! Scenario: the first thing a newcomer runs. `cargo run --example hello`,
//! then `curl http://127.0.0.1:8080/`.
use greenloop::http::{Request, Server};

fn main() -> std::io::Result<()> {
    Server::bind("127.0.0.1:8080").serve(|_req: Request| "Hello, World!\n")
}
