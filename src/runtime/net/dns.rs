//! Host-name lookups on a small pool of their own.
//!
//! `getaddrinfo` blocks, so it runs on an OS thread; but not on the
//! [`offload`](crate::offload) pool: user work there (a slow C call, a long
//! file read) would queue lookups behind it, and a client's request would
//! wait for someone else's work before it even connects. The lookup pool is
//! a few threads (`GREENLOOP_DNS_THREADS`, default 4) with a bounded queue,
//! and the caller waits at most until its deadline: a resolver that never
//! answers costs the caller its timeout, not more. A lookup given up on
//! before a thread takes it is skipped.

use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::Instant;

use crossbeam::channel::{self, Receiver, Sender, TrySendError};

use crate::park::{self, Unparker, Wake};

/// Default number of lookup threads; `GREENLOOP_DNS_THREADS` overrides it.
const DEFAULT_THREADS: usize = 4;

/// Lookups waiting for a thread before new ones are refused.
const QUEUE: usize = 256;

/// One lookup: the name, and where its answer goes.
struct Lookup {
    addr: String,
    reply: Arc<Reply>,
}

/// The answer of a lookup, and who waits for it.
struct Reply {
    result: Mutex<Option<io::Result<Vec<SocketAddr>>>>,
    waiter: Unparker,
}

struct Pool {
    tx: Sender<Lookup>,
    rx: Receiver<Lookup>,
    max: usize,
    threads: AtomicUsize,
    idle: AtomicUsize,
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| {
        let (tx, rx) = channel::bounded(QUEUE);
        let max = std::env::var("GREENLOOP_DNS_THREADS")
            .ok()
            .and_then(|s| s.trim().parse::<usize>().ok())
            .filter(|n| *n > 0)
            .unwrap_or(DEFAULT_THREADS);
        Pool { tx, rx, max, threads: AtomicUsize::new(0), idle: AtomicUsize::new(0) }
    })
}

impl Pool {
    /// Queues `lookup`, adding a thread when none is idle (up to `max`).
    fn submit(&'static self, lookup: Lookup) -> Result<(), Lookup> {
        self.tx.try_send(lookup).map_err(|e| match e {
            TrySendError::Full(l) | TrySendError::Disconnected(l) => l,
        })?;
        if self.idle.load(Ordering::Acquire) == 0 {
            let n = self.threads.load(Ordering::Acquire);
            if n < self.max && self.threads.compare_exchange(n, n + 1, Ordering::AcqRel, Ordering::Acquire).is_ok() {
                let spawned = thread::Builder::new()
                    .name("greenloop-dns".into())
                    .stack_size(256 * 1024)
                    .spawn(move || self.work());
                if spawned.is_err() {
                    self.threads.fetch_sub(1, Ordering::AcqRel);
                    log::warn!(target: "greenloop::net", "could not start a lookup thread; queueing");
                }
            }
        }
        Ok(())
    }

    fn work(&'static self) {
        loop {
            self.idle.fetch_add(1, Ordering::AcqRel);
            let next = self.rx.recv();
            self.idle.fetch_sub(1, Ordering::AcqRel);
            let Ok(Lookup { addr, reply }) = next else { return };
            if Arc::strong_count(&reply) == 1 {
                continue; // The caller gave up before its turn came.
            }
            let result = lookup(&addr);
            *reply.result.lock().unwrap_or_else(|e| e.into_inner()) = Some(result);
            reply.waiter.unpark();
        }
    }
}

/// `getaddrinfo` (through std), or a stand-in in this module's tests.
fn lookup(addr: &str) -> io::Result<Vec<SocketAddr>> {
    #[cfg(test)]
    if let Some(answer) = tests::stand_in(addr) {
        return answer;
    }
    addr.to_socket_addrs().map(Iterator::collect)
}

/// Resolves `addr` (`host:port`) on the lookup pool, waiting until
/// `deadline` at most (and no longer than an enclosing
/// [`timeout`](crate::timeout)). IP literals are parsed on the spot.
pub(super) fn resolve_until(addr: &str, deadline: Option<Instant>) -> io::Result<Vec<SocketAddr>> {
    if let Ok(a) = addr.parse::<SocketAddr>() {
        return Ok(vec![a]);
    }
    let reply = Arc::new(Reply { result: Mutex::new(None), waiter: park::unparker() });
    if pool().submit(Lookup { addr: addr.to_owned(), reply: reply.clone() }).is_err() {
        return Err(io::Error::new(
            io::ErrorKind::WouldBlock,
            format!("could not resolve {addr:?}: {QUEUE} lookups are already waiting for the resolver"),
        ));
    }
    loop {
        if let Some(result) = reply.result.lock().unwrap_or_else(|e| e.into_inner()).take() {
            return result.map_err(|e| io::Error::new(e.kind(), format!("could not resolve {addr:?}: {e}")));
        }
        if park::park_deadline(deadline) == Wake::TimedOut {
            if let Some(result) = reply.result.lock().unwrap_or_else(|e| e.into_inner()).take() {
                return result.map_err(|e| io::Error::new(e.kind(), format!("could not resolve {addr:?}: {e}")));
            }
            return Err(io::Error::new(io::ErrorKind::TimedOut, format!("looking up {addr:?} timed out")));
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::sync::atomic::AtomicBool;
    use std::time::Duration;

    use super::*;

    /// While set, lookups of `hang.*` names block, as with a resolver that
    /// never answers.
    static HANG: AtomicBool = AtomicBool::new(true);

    /// Stands in for `getaddrinfo` for names under `.test` (reserved, never
    /// real): `hang.*` ones block while [`HANG`] is set, all answer 192.0.2.1.
    pub(super) fn stand_in(addr: &str) -> Option<io::Result<Vec<SocketAddr>>> {
        let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
        if !host.ends_with(".test") {
            return None;
        }
        if host.starts_with("hang.") {
            while HANG.load(Ordering::Acquire) {
                thread::sleep(Duration::from_millis(5));
            }
        }
        Some(Ok(vec![SocketAddr::from(([192, 0, 2, 1], 80))]))
    }

    #[test]
    fn a_lookup_the_resolver_never_answers_is_bounded_by_the_deadline() {
        crate::run(|| {
            // Every lookup thread stuck, and more lookups queued behind them.
            let stuck: Vec<_> = (0..pool().max + 3)
                .map(|i| {
                    crate::spawn(move || {
                        let deadline = Instant::now() + Duration::from_millis(300);
                        resolve_until(&format!("hang.{i}.test:80"), Some(deadline))
                    })
                })
                .collect();
            let start = Instant::now();
            for s in stuck {
                let err = s.join().unwrap().unwrap_err();
                assert_eq!(err.kind(), io::ErrorKind::TimedOut, "{err}");
                assert!(err.to_string().contains("hang."), "{err}");
            }
            assert!(start.elapsed() < Duration::from_secs(3), "took {:?}", start.elapsed());
            // A timeout scope bounds it too.
            let t = Instant::now();
            let scoped = crate::timeout(Duration::from_millis(100), || resolve_until("hang.scoped.test:80", None));
            assert!(scoped.is_err(), "{scoped:?}");
            assert!(t.elapsed() < Duration::from_secs(2), "took {:?}", t.elapsed());
            // An IP literal never waits for the pool.
            let t = Instant::now();
            let literal = resolve_until("[::1]:8080", Some(Instant::now())).unwrap();
            assert_eq!(literal, vec!["[::1]:8080".parse().unwrap()]);
            assert!(t.elapsed() < Duration::from_millis(50));
            HANG.store(false, Ordering::Release);
            // Once the resolver answers again, so do lookups; the ones given up on are skipped.
            let ok = resolve_until("fine.test:80", Some(Instant::now() + Duration::from_secs(10))).unwrap();
            assert_eq!(ok, vec![SocketAddr::from(([192, 0, 2, 1], 80))]);
        });
    }
}
