//! `X-Request-Id` on every request and response: the client's when it sent
//! a sane one, else a new UUID-v4-shaped id unique across workers and
//! processes.

use std::cell::Cell;
use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::rc::Rc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use http::{HeaderName, HeaderValue};

use crate::http::{Middleware, Next, Request, Response};

/// The header the id travels in, both ways.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// The longest id taken from a client; longer ones are replaced.
const MAX_LEN: usize = 128;

/// A request's id (`X-Request-Id`), as [`RequestIds`] chose it: for the
/// handler's own logs and its calls to other services, so one id follows a
/// request everywhere it goes. Read it with [`RequestId::of`]; it derefs to
/// `str`.
///
/// Not the same as [`RequestExt::request_id`](crate::http::RequestExt::request_id),
/// a number unique only within one worker's lifetime; this one is unique
/// across workers, processes and machines.
///
/// ```
/// use greenloop::http::middleware::{RequestId, RequestIds};
/// use greenloop::http::{App, Body, Request};
///
/// let app = App::new(|req: Request| format!("id {}", RequestId::of(&req).as_deref().unwrap_or("-")))
///     .wrap(RequestIds::new());
/// let res = app.call(Request::builder().header("x-request-id", "abc-1").body(Body::empty()).unwrap());
/// assert_eq!(res.headers()["x-request-id"], "abc-1");
/// assert_eq!(res.body().as_bytes(), Some(&b"id abc-1"[..]));
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct RequestId {
    len: u8,
    bytes: [u8; MAX_LEN],
}

/// The id of the request the current green thread serves, set by
/// [`RequestIds`] for the time of the rest of the chain: one cell per
/// connection, updated in place, so no request pays for an extension map.
static CURRENT: crate::LocalKey<Rc<Cell<Option<RequestId>>>> = crate::LocalKey::new();

impl RequestId {
    /// The id of `req`, when [`RequestIds`] runs around its handler: from
    /// the request's extensions if one was put there (outside a green
    /// thread, [`RequestIds`] puts it there), else from the serving green
    /// thread, as [`RequestExt::conn_info`](crate::http::RequestExt::conn_info) does.
    pub fn of(req: &Request) -> Option<RequestId> {
        if let Some(id) = req.extensions().get::<RequestId>() {
            return Some(*id);
        }
        CURRENT.with(|cell| cell.and_then(|c| c.get()))
    }

    /// The id as text (visible ASCII only).
    pub fn as_str(&self) -> &str {
        // Only ever built from visible ASCII (`sane`, `generate`).
        std::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or("")
    }

    /// `id` when it is sane (1 to 128 visible ASCII characters).
    fn from_sane(id: &[u8]) -> Option<RequestId> {
        if !sane(id) {
            return None;
        }
        let mut bytes = [0u8; MAX_LEN];
        bytes[..id.len()].copy_from_slice(id);
        Some(RequestId { len: id.len() as u8, bytes })
    }

    /// An id read back from a response's header.
    pub(crate) fn of_header(v: &HeaderValue) -> Option<RequestId> {
        RequestId::from_sane(v.as_bytes())
    }
}

impl std::ops::Deref for RequestId {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RequestId").field(&self.as_str()).finish()
    }
}

/// Gives every request an id and every response its `X-Request-Id`:
/// the request's own `X-Request-Id` when it is sane (1 to 128 visible
/// ASCII characters; a proxy or a calling service chose it), else a new
/// one. The handler reads the id with [`RequestId::of`]; it is on the
/// response, and in the [`AccessLog`](super::AccessLog) line (`request_id=`).
///
/// New ids look like UUID v4 (`8-4-4-4-12` hex digits): 122 bits mixed
/// from a per-process 128-bit random key and a process-wide counter, so ids
/// never repeat within a process and collide across processes with the
/// odds of random UUIDs. No system call, no lock: an atomic increment, a
/// few multiplications and the hex digits.
///
/// Opt-in rather than always on: it costs about 1 900 instructions per
/// request, a third of a whole plaintext request (docs/PERFORMANCE.md,
/// "Request ids"), which a service behind a proxy that already sets the
/// header, or one that never logs per request, need not pay. Wrap it
/// outside the access log (`.wrap(RequestIds::new())` first) so even
/// requests the access log refuses carry their id.
#[derive(Clone, Debug, Default)]
pub struct RequestIds {
    ignore_incoming: bool,
}

impl RequestIds {
    /// Ids taken from the request when sane, else generated.
    pub fn new() -> RequestIds {
        RequestIds::default()
    }

    /// Always generate, ignoring the client's `X-Request-Id`: for a server
    /// facing the internet directly, where a client could choose ids to
    /// confuse the logs.
    pub fn ignore_incoming(mut self, yes: bool) -> RequestIds {
        self.ignore_incoming = yes;
        self
    }
}

/// Clears the connection's current id when the request is over, however it ends.
struct Clear(Rc<Cell<Option<RequestId>>>);

impl Drop for Clear {
    fn drop(&mut self) {
        self.0.set(None);
    }
}

/// This green thread's id cell (made on its first request); `None`
/// outside a green thread.
fn current_cell() -> Option<Rc<Cell<Option<RequestId>>>> {
    if let Some(cell) = CURRENT.get() {
        return Some(cell);
    }
    if !crate::park::in_green_thread() {
        return None;
    }
    let cell = Rc::new(Cell::new(None));
    CURRENT.set(cell.clone());
    Some(cell)
}

impl Middleware for RequestIds {
    fn call(&self, mut req: Request, next: Next<'_>) -> Response {
        let incoming = match req.header(&X_REQUEST_ID) {
            Some(v) if !self.ignore_incoming => {
                RequestId::from_sane(v).and_then(|id| Some((id, HeaderValue::from_bytes(v).ok()?)))
            }
            _ => None,
        };
        let (id, header) = incoming.unwrap_or_else(|| {
            let id = generate();
            (id, HeaderValue::from_bytes(id.as_str().as_bytes()).expect("hex digits and dashes"))
        });
        let mut res = match current_cell() {
            Some(cell) => {
                cell.set(Some(id));
                let _clear = Clear(cell);
                next.run(req)
            }
            None => {
                req.extensions_mut().insert(id);
                next.run(req)
            }
        };
        res.headers_mut().insert(X_REQUEST_ID, header);
        res
    }
}

/// 1 to 128 visible ASCII characters.
fn sane(id: &[u8]) -> bool {
    !id.is_empty() && id.len() <= MAX_LEN && id.iter().all(|b| (0x21..=0x7e).contains(b))
}

/// A new id: `mix(key + n)` for the process's random key and the n-th id.
fn generate() -> RequestId {
    static KEY: OnceLock<u128> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let key = *KEY.get_or_init(random_key);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let bits = mix(key.wrapping_add(n as u128));
    // Version 4, variant 10, as a random UUID says.
    let bits = (bits & !(0xf << 76) & !(0x3 << 62)) | (0x4 << 76) | (0x2 << 62);
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; MAX_LEN];
    let mut j = 0;
    for (i, b) in bits.to_be_bytes().into_iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out[j] = b'-';
            j += 1;
        }
        out[j] = HEX[usize::from(b >> 4)];
        out[j + 1] = HEX[usize::from(b & 0xf)];
        j += 2;
    }
    RequestId { len: 36, bytes: out }
}

/// A bijection of 128-bit values that spreads consecutive inputs over
/// the whole range (xor-shift-multiply, as in splitmix): distinct inputs,
/// distinct outputs.
fn mix(mut x: u128) -> u128 {
    const M1: u128 = 0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835;
    const M2: u128 = 0xbf58_476d_1ce4_e5b9_94d0_49bb_1331_11eb;
    x ^= x >> 67;
    x = x.wrapping_mul(M1);
    x ^= x >> 61;
    x = x.wrapping_mul(M2);
    x ^ (x >> 64)
}

/// 128 bits from the OS's random source: std's `RandomState` is keyed
/// from it (once per thread), and two of them hash the process id and
/// the time.
fn random_key() -> u128 {
    let half = || {
        let mut h = RandomState::new().build_hasher();
        h.write_u32(std::process::id());
        h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
        h.finish() as u128
    };
    half() << 64 | half()
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::http::{App, Body};

    fn req(id: Option<&[u8]>) -> Request {
        let mut b = Request::builder().uri("/");
        if let Some(id) = id {
            b = b.header("x-request-id", HeaderValue::from_bytes(id).unwrap());
        }
        b.body(Body::empty()).unwrap()
    }

    fn app() -> App {
        App::new(|req: Request| RequestId::of(&req).map_or("none".to_string(), |id| id.to_string()))
            .wrap(RequestIds::new())
    }

    #[test]
    fn generated_ids_are_uuid_v4_shaped_and_distinct() {
        let mut seen = HashSet::new();
        for _ in 0..10_000 {
            let v = generate();
            let s = v.as_str();
            assert_eq!(s.len(), 36);
            assert_eq!(&s[14..15], "4", "{s}");
            assert!(matches!(&s[19..20], "8" | "9" | "a" | "b"), "{s}");
            assert!(seen.insert(s.to_string()), "{s} twice");
        }
    }

    #[test]
    fn sane_incoming_ids_are_kept_and_others_replaced() {
        let res = app().call(req(Some(b"trace-77")));
        assert_eq!(res.headers()["x-request-id"], "trace-77");
        assert_eq!(res.body().as_bytes(), Some(&b"trace-77"[..]));
        for bad in [&b"has space"[..], &[b'a'; 129][..], &b"tab\there"[..], &b"caf\xc3\xa9"[..]] {
            let res = app().call(req(Some(bad)));
            let id = res.headers()["x-request-id"].to_str().unwrap().to_string();
            assert_eq!(id.len(), 36, "{bad:?} kept");
            assert_eq!(res.body().as_bytes(), Some(id.as_bytes()));
        }
        let res = app().call(req(None));
        assert_eq!(res.headers()["x-request-id"].len(), 36);
        let strict = App::new(|_req: Request| "").wrap(RequestIds::new().ignore_incoming(true));
        assert_ne!(strict.call(req(Some(b"mine"))).headers()["x-request-id"], "mine");
    }

    #[test]
    fn on_a_green_thread_the_id_lives_in_the_connection_cell_and_is_cleared_after() {
        crate::run(|| {
            let res = app().call(req(Some(b"green-1")));
            assert_eq!(res.body().as_bytes(), Some(&b"green-1"[..]));
            assert_eq!(RequestId::of(&req(None)), None, "cleared once answered");
            let res = app().call(req(None));
            assert_eq!(res.body().as_bytes().map(<[u8]>::len), Some(36));
        });
    }
}
