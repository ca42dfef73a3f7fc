//! may_minihttp on one may worker thread (`may::config().set_workers(1)`),
//! like greenloop's one worker: `GET /plaintext` answers `Hello, World!`,
//! `GET /sleep?ms=N` answers `slept` after a coroutine sleep of N ms.
//! may pins its workers to cores by default; that is turned off, so the
//! worker stays on the CPU the benchmark scripts give it (`taskset`).
//! Argument: the port.
use std::io;
use std::time::Duration;

use may_minihttp::{HttpServer, HttpService, Request, Response};

/// The `ms` parameter of a request target such as `/sleep?ms=1000`.
fn sleep_ms(target: &str) -> Option<u64> {
    let (_, query) = target.split_once('?')?;
    query.split('&').find_map(|kv| kv.strip_prefix("ms=")?.parse().ok())
}

/// The routes; stateless, so one value serves every connection.
#[derive(Clone)]
struct Peer;

impl HttpService for Peer {
    fn call(&mut self, req: Request, rsp: &mut Response) -> io::Result<()> {
        let target = req.path();
        let path = target.split_once('?').map_or(target, |(p, _)| p);
        rsp.header("Content-Type: text/plain");
        match path {
            "/plaintext" => {
                rsp.body("Hello, World!");
            }
            "/sleep" => match sleep_ms(target) {
                Some(ms) => {
                    may::coroutine::sleep(Duration::from_millis(ms));
                    rsp.body("slept");
                }
                None => {
                    rsp.status_code(400, "Bad Request").body("ms=N wanted");
                }
            },
            _ => {
                rsp.status_code(404, "Not Found").body("not found");
            }
        }
        Ok(())
    }
}

fn main() {
    let port: u16 = std::env::args().nth(1).and_then(|p| p.parse().ok()).unwrap_or(8080);
    may::config().set_workers(1).set_worker_pin(false);
    let server = HttpServer(Peer).start(("127.0.0.1", port)).expect("bind");
    server.join().expect("server thread");
}
