//! Newcomers at a full connection cap: when every slot holds a request in
//! flight or an upgraded connection (a WebSocket, an event stream) and none
//! is idle to close, a new connection is answered `503 Service Unavailable`
//! with `Retry-After: 1` and closed, instead of waiting unanswered in the
//! listen backlog. The condition is logged at most once per interval (as
//! nginx logs "worker_connections are not enough") and counted in
//! `/metrics` (`greenloop_http_connections_refused_total`).

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use super::context::WorkerCtx;
use super::stream::Stream;

/// How long a newcomer waits at a full cap for a slot (a connection that
/// closes or falls idle) before the refusals begin; while the cap stays
/// full, later newcomers are refused at once.
pub(super) const PATIENCE: Duration = Duration::from_secs(1);
/// Refusals being written at once: beyond it, a newcomer is closed unanswered
/// (each refusal holds a small green thread for at most `REFUSAL_TIME`).
const MAX_REFUSING: usize = 64;
/// Longest a refusal spends writing its answer and reading what the client
/// sent meanwhile (so that closing does not reset the answer away).
const REFUSAL_TIME: Duration = Duration::from_secs(1);
/// The full cap is logged at most this often.
const LOG_EVERY: Duration = Duration::from_secs(10);

const RESPONSE: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nConnection: close\r\n\
Content-Type: text/plain; charset=utf-8\r\nContent-Length: 58\r\n\r\n\
server busy: every connection slot is in use; retry later\n";

thread_local! {
    static REFUSING: Cell<usize> = const { Cell::new(0) };
    /// When the full cap was last logged, and the refusals since.
    static LOGGED: Cell<(Option<Instant>, u64)> = const { Cell::new((None, 0)) };
}

/// Answers `stream` with a 503 on a green thread of its own and closes it.
pub(super) fn refuse(ctx: &Rc<WorkerCtx>, stream: Stream) {
    ctx.metrics.connections_refused.add(1);
    log_full(ctx);
    if REFUSING.get() >= MAX_REFUSING {
        return;
    }
    REFUSING.set(REFUSING.get() + 1);
    crate::spawn_detached(move || {
        answer(&stream);
        REFUSING.set(REFUSING.get() - 1);
    });
}

fn answer(stream: &Stream) {
    let deadline = Instant::now() + REFUSAL_TIME;
    let mut left = RESPONSE;
    while !left.is_empty() {
        match stream.try_write(left) {
            Ok(0) => return,
            Ok(n) => left = &left[n..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if stream.writable_until(Some(deadline)).is_err() {
                    return;
                }
            }
            Err(_) => return,
        }
    }
    let _ = stream.try_flush();
    if stream.shutdown(std::net::Shutdown::Write).is_err() {
        return;
    }
    // Read and drop the request until the client closes (or time is up):
    // closing with its bytes unread would reset the connection, and the
    // answer with it.
    let mut buf = [0u8; 4096];
    let mut read = 0;
    while read < 64 * 1024 {
        match stream.try_read(&mut buf) {
            Ok(0) => return,
            Ok(n) => read += n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if stream.readable_until(Some(deadline)).is_err() {
                    return;
                }
            }
            Err(_) => return,
        }
    }
}

fn log_full(ctx: &WorkerCtx) {
    let (last, count) = LOGGED.get();
    let count = count + 1;
    if last.is_some_and(|t| t.elapsed() < LOG_EVERY) {
        LOGGED.set((last, count));
        return;
    }
    log::warn!(
        "greenloop: worker {}: all {} connection slots are in use with none idle (requests in flight, \
         WebSockets, event streams): new connections are answered 503 ({count} since the last report); \
         raise Limits::max_connections if this persists",
        ctx.id,
        ctx.config.limits.max_connections
    );
    LOGGED.set((Some(Instant::now()), 0));
}
