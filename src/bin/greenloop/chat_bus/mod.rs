//! `--chat-bus URL`: the chat room spans instances through Redis pub/sub
//! (`redis://HOST:PORT`) or NATS (`nats://HOST:PORT`).
//!
//! Each instance tags what its members say with its instance id and
//! publishes it on the bus; what the bus delivers with another instance's
//! id goes to the local members (through the room's usual bounded
//! outboxes), what carries this instance's own id is skipped, as its members
//! already had it. The bus runs on an OS thread of its own with its own
//! greenloop loop: one green thread subscribes, one publishes. Members on
//! any worker hand lines over through a bounded queue with `try_send`, so
//! talking never waits on the bus: a full queue drops the line for the bus
//! only, the local room still gets it. A lost bus is logged and retried
//! with backoff, each side (subscriber, publisher) on its own.

mod nats;
#[cfg(feature = "redis")]
mod redis;
mod wire;

use std::hash::{BuildHasher, Hasher};
use std::io;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use greenloop::sync::channel::{Receiver, RecvTimeoutError, Sender, TrySendError, bounded};

/// The Redis channel and the NATS subject the instances share.
pub const SUBJECT: &str = "greenloop.chat";

/// Lines waiting to be published: past this, new lines skip the bus (the
/// local room still gets them) until it catches up.
const QUEUE: usize = 1024;

/// Longest wait between two attempts to reach a bus that is gone.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// How often the publisher, when idle, checks its connection (a Redis
/// `PING`; for NATS, answering the server's pings).
const IDLE_CHECK: Duration = Duration::from_secs(1);

/// Where the bus is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Redis pub/sub at this URL.
    #[cfg(feature = "redis")]
    Redis(String),
    /// A NATS server.
    Nats {
        /// Host name or address.
        host: String,
        /// Port (4222 when the URL gives none).
        port: u16,
    },
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            #[cfg(feature = "redis")]
            Target::Redis(url) => f.write_str(url),
            Target::Nats { host, port } => write!(f, "nats://{host}:{port}"),
        }
    }
}

impl Target {
    /// Parses `--chat-bus`'s value.
    pub fn parse(url: &str) -> Result<Target, String> {
        if url.starts_with("redis://") || url.starts_with("redis+unix://") {
            #[cfg(feature = "redis")]
            {
                greenloop::redis::ConnectionInfo::parse(url).map_err(|e| format!("--chat-bus {url:?}: {e}"))?;
                return Ok(Target::Redis(url.to_owned()));
            }
            #[cfg(not(feature = "redis"))]
            return Err(format!("--chat-bus {url:?}: this build has no Redis client (feature `redis`)"));
        }
        if let Some(rest) = url.strip_prefix("nats://") {
            let rest = rest.trim_end_matches('/');
            if rest.contains(['@', '/', '?']) || rest.is_empty() {
                return Err(format!("--chat-bus {url:?}: give nats://HOST[:PORT] (no credentials or path)"));
            }
            let (host, port) = match rest.rsplit_once(':') {
                Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => {
                    let port = p.parse::<u16>().map_err(|_| format!("--chat-bus {url:?}: bad port {p:?}"))?;
                    (h, port)
                }
                _ => (rest, 4222),
            };
            let host = host.trim_start_matches('[').trim_end_matches(']');
            if host.is_empty() {
                return Err(format!("--chat-bus {url:?}: no host"));
            }
            return Ok(Target::Nats { host: host.to_owned(), port });
        }
        Err(format!("--chat-bus {url:?}: not a redis:// or nats:// URL"))
    }
}

/// The running bus, once started.
struct Bus {
    instance: String,
    out: Sender<Vec<u8>>,
    /// Whether "queue full" was logged since the queue last had room.
    full_logged: AtomicBool,
}

static BUS: OnceLock<Bus> = OnceLock::new();

/// Set by the subscriber when it (re)subscribes: the bus is back, so the
/// publisher retries now instead of at the end of its backoff.
static BUS_BACK: AtomicBool = AtomicBool::new(false);

/// This instance's id as members see it (`None` without a bus).
pub fn instance() -> Option<&'static str> {
    BUS.get().map(|b| b.instance.as_str())
}

/// A random id for this process: 8 hex digits from std's per-process
/// random hash keys, mixed with the process id.
fn new_instance_id() -> String {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    format!("{:08x}", h.finish() as u32)
}

/// Starts the bus on a thread of its own; `deliver` gets every line other
/// instances publish. Call once, before serving.
pub fn start(target: Target, deliver: fn(&str)) -> io::Result<()> {
    let instance = new_instance_id();
    let (out, rx) = bounded::<Vec<u8>>(QUEUE);
    let bus = Bus { instance: instance.clone(), out, full_logged: AtomicBool::new(false) };
    if BUS.set(bus).is_err() {
        return Err(io::Error::other("the chat bus is already running"));
    }
    log::info!("chat bus: instance {instance} on {target}");
    std::thread::Builder::new().name("greenloop-chat-bus".into()).spawn(move || {
        greenloop::run(move || {
            let sub_target = target.clone();
            let me = instance.clone();
            greenloop::spawn_detached(move || subscriber(&sub_target, &me, deliver));
            publisher(&target, rx);
        })
    })?;
    Ok(())
}

/// Publishes `line` (what a local member said) to the other instances.
/// Never waits: when the bus is behind, the line skips it.
pub fn publish(line: &str) {
    let Some(bus) = BUS.get() else { return };
    match bus.out.try_send(wire::encode(&bus.instance, line)) {
        Ok(()) => {
            if bus.full_logged.load(Ordering::Relaxed) {
                bus.full_logged.store(false, Ordering::Relaxed);
            }
        }
        Err(TrySendError::Full(_)) => {
            if !bus.full_logged.swap(true, Ordering::Relaxed) {
                log::warn!(
                    "chat bus: {QUEUE} messages wait to be published; new ones stay on this instance until it catches up"
                );
            }
        }
        Err(TrySendError::Disconnected(_)) => {}
    }
}

/// Waits between attempts to reach a bus that is gone: 100 ms, doubling
/// up to [`MAX_BACKOFF`], back to 100 ms once connected.
struct Backoff(Duration);

impl Backoff {
    const FIRST: Duration = Duration::from_millis(100);

    fn new() -> Backoff {
        Backoff(Self::FIRST)
    }

    /// The wait after one more failure.
    fn next(&mut self) -> Duration {
        let d = self.0;
        self.0 = (self.0 * 2).min(MAX_BACKOFF);
        d
    }

    fn reset(&mut self) {
        self.0 = Self::FIRST;
    }
}

/// Receives what other instances publish, reconnecting with backoff.
fn subscriber(target: &Target, instance: &str, deliver: fn(&str)) {
    let mut backoff = Backoff::new();
    let mut received = 0u64;
    loop {
        let mut on_subscribed = || {
            backoff.reset();
            BUS_BACK.store(true, Ordering::Relaxed);
            log::info!("chat bus: subscribed to {SUBJECT} on {target}");
        };
        let mut on_message = |payload: &[u8]| {
            if let Some((from, line)) = wire::decode(payload)
                && from != instance
            {
                deliver(line);
            }
            // A burst of messages is parsed from the buffer without waiting:
            // let the publisher run now and then.
            received += 1;
            if received.is_multiple_of(64) {
                greenloop::yield_now();
            }
        };
        let e = match target {
            #[cfg(feature = "redis")]
            Target::Redis(url) => redis::subscribe(url, &mut on_subscribed, &mut on_message),
            Target::Nats { host, port } => nats::subscribe(host, *port, &mut on_subscribed, &mut on_message),
        };
        let wait = backoff.next();
        log::warn!("chat bus: subscription to {target} lost: {e}; local chat goes on, retrying in {wait:?}");
        greenloop::sleep(wait);
    }
}

/// One connection that publishes.
enum Publisher {
    #[cfg(feature = "redis")]
    Redis(redis::Publisher),
    Nats(nats::Publisher),
}

impl Publisher {
    fn connect(target: &Target) -> io::Result<Publisher> {
        match target {
            #[cfg(feature = "redis")]
            Target::Redis(url) => redis::Publisher::connect(url).map(Publisher::Redis),
            Target::Nats { host, port } => nats::Publisher::connect(host, *port).map(Publisher::Nats),
        }
    }

    fn publish(&mut self, payload: &[u8]) -> io::Result<()> {
        match self {
            #[cfg(feature = "redis")]
            Publisher::Redis(p) => p.publish(payload),
            Publisher::Nats(p) => p.publish(payload),
        }
    }

    /// Between messages: answers what the server asked, notices a closed connection.
    fn idle(&mut self) -> io::Result<()> {
        match self {
            #[cfg(feature = "redis")]
            Publisher::Redis(p) => p.idle(),
            Publisher::Nats(p) => p.idle(),
        }
    }
}

/// Publishes what local members say, reconnecting with backoff; lines that
/// come while the bus is unreachable are counted and dropped.
fn publisher(target: &Target, rx: Receiver<Vec<u8>>) {
    let mut backoff = Backoff::new();
    let mut conn: Option<Publisher> = None;
    let mut retry_at = Instant::now();
    let mut dropped = 0u64;
    loop {
        let bus_back = BUS_BACK.swap(false, Ordering::Relaxed);
        if conn.is_none() && (bus_back || Instant::now() >= retry_at) {
            match Publisher::connect(target) {
                Ok(c) => {
                    backoff.reset();
                    log::info!("chat bus: publishing on {target}");
                    if dropped > 0 {
                        log::warn!(
                            "chat bus: {dropped} messages stayed on this instance while {target} was unreachable"
                        );
                        dropped = 0;
                    }
                    conn = Some(c);
                }
                Err(e) => {
                    let wait = backoff.next();
                    log::warn!("chat bus: cannot publish to {target}: {e}; retrying in {wait:?}");
                    retry_at = Instant::now() + wait;
                }
            }
        }
        let payload = match rx.recv_timeout(IDLE_CHECK) {
            Ok(p) => p,
            Err(RecvTimeoutError::Timeout) => {
                if let Some(c) = &mut conn
                    && let Err(e) = c.idle()
                {
                    log::warn!("chat bus: publishing connection to {target} lost: {e}; reconnecting");
                    conn = None;
                }
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => return,
        };
        let Some(c) = &mut conn else {
            dropped += 1;
            continue;
        };
        if let Err(e) = c.publish(&payload) {
            log::warn!("chat bus: publishing connection to {target} lost: {e}; reconnecting");
            // Once more on a fresh connection (a restarted server), then give up on this line.
            conn = Publisher::connect(target).ok().and_then(|mut c| c.publish(&payload).is_ok().then_some(c));
            if conn.is_some() {
                backoff.reset();
                log::info!("chat bus: publishing on {target}");
            } else {
                dropped += 1;
                retry_at = Instant::now() + backoff.next();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(Target::parse("nats://127.0.0.1:4222"), Ok(Target::Nats { host: "127.0.0.1".into(), port: 4222 }));
        assert_eq!(Target::parse("nats://bus"), Ok(Target::Nats { host: "bus".into(), port: 4222 }));
        assert_eq!(Target::parse("nats://[::1]:5000/"), Ok(Target::Nats { host: "::1".into(), port: 5000 }));
        assert!(Target::parse("nats://u:p@h").unwrap_err().contains("no credentials"));
        assert!(Target::parse("nats://h:x").unwrap_err().contains("bad port"));
        assert!(Target::parse("amqp://h").unwrap_err().contains("not a redis:// or nats://"));
        #[cfg(feature = "redis")]
        assert_eq!(Target::parse("redis://127.0.0.1:6379"), Ok(Target::Redis("redis://127.0.0.1:6379".into())));
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_and_resets() {
        let mut b = Backoff::new();
        let waits: Vec<_> = (0..8).map(|_| b.next()).collect();
        assert_eq!(waits[0], Duration::from_millis(100));
        assert_eq!(waits[1], Duration::from_millis(200));
        assert_eq!(*waits.last().unwrap(), MAX_BACKOFF);
        b.reset();
        assert_eq!(b.next(), Duration::from_millis(100));
    }
}
