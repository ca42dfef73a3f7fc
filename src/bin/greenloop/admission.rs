//! How much of a worker one client can take through the teaching routes.
//!
//! `/block`, `/offload` and `/api/aggregated/` exist to show what blocking,
//! offloading and fanning out cost (and `/echo` holds whole bodies). Unbounded, each is also a way to take
//! the demo down: a 60 s `/block` stalls every request on its worker, a pile
//! of long `/offload` calls holds every pool thread, and twenty 100-call
//! fan-outs open thousands of sockets. These bounds keep the lesson and
//! drop the denial of service.

use std::time::Duration;

use greenloop::sync::{Semaphore, SemaphorePermit};

/// Longest `/block`: long enough for the watchdog to report it, short
/// enough that the requests it stalls still get their answer.
pub const MAX_BLOCK_MS: u64 = 1_000;
/// Longest `/offload` sleep.
pub const MAX_OFFLOAD_MS: u64 = 10_000;
/// `/offload` calls in flight at once on one worker; more are answered 503.
/// Half the offload pool's default 64 threads, so one worker cannot take them all.
pub const OFFLOAD_SLOTS: usize = 32;
/// Aggregated requests fanning out at once on one worker (each makes at
/// most `MAX_FAN_OUT` upstream calls); more wait for a turn.
pub const FAN_OUT_SLOTS: usize = 4;
/// How long an aggregated request waits for a turn before it gets 503.
pub const FAN_OUT_WAIT: Duration = Duration::from_secs(10);

/// `/echo` requests holding a whole body in memory at once on one worker
/// (each up to `--max-body`); more wait for a turn. Small bodies need none.
pub const ECHO_SLOTS: usize = 8;
/// Bodies up to this size are echoed without a turn: their memory is small.
pub const ECHO_SMALL_BYTES: u64 = 64 * 1024;
/// How long an `/echo` waits for a turn before it gets 503.
pub const ECHO_WAIT: Duration = Duration::from_secs(10);

/// One worker's admission counters, created on the worker's loop
/// (`Server::with_worker_state`), so nothing here is shared between threads.
pub struct Admission {
    offload: Semaphore,
    fan_out: Semaphore,
    echo: Semaphore,
}

impl Admission {
    /// Fresh counters with every slot free.
    pub fn new() -> Admission {
        Admission {
            offload: Semaphore::new(OFFLOAD_SLOTS),
            fan_out: Semaphore::new(FAN_OUT_SLOTS),
            echo: Semaphore::new(ECHO_SLOTS),
        }
    }

    /// A slot for one `/offload` call, or `None` when all are taken: the
    /// caller answers 503 at once rather than queue behind blocked threads.
    pub fn offload(&self) -> Option<SemaphorePermit<'_>> {
        self.offload.try_acquire()
    }

    /// A turn to fan out, waited for (parking) up to `FAN_OUT_WAIT`.
    pub fn fan_out(&self) -> Option<SemaphorePermit<'_>> {
        self.fan_out.acquire_timeout(FAN_OUT_WAIT)
    }

    /// A turn to hold a large request body in memory, waited for (parking)
    /// up to `ECHO_WAIT`.
    pub fn echo(&self) -> Option<SemaphorePermit<'_>> {
        self.echo.acquire_timeout(ECHO_WAIT)
    }
}
