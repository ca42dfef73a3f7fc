//! One log line per request, written off the event loop: the middleware
//! here, the value quoting in `logfmt.rs`, the timestamps in
//! `timestamp.rs`, and the queue and thread in [`LineSink`].

mod logfmt;
mod timestamp;

use std::fmt::Write as _;
use std::io::{self, Read};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, OnceLock};
use std::time::{Instant, SystemTime};

use http::header;

use self::logfmt::push_value;
use self::timestamp::write_rfc3339;
use super::request_id::{RequestId, X_REQUEST_ID};
use crate::http::log_sink::LineSink;
use crate::http::{IntoResponse, Middleware, Next, Request, RequestExt, Response};

/// The `log` target of access lines.
const TARGET: &str = "greenloop::access";
/// How many request bodies' bytes a line shows.
const BODY_LIMIT: usize = 2048;
/// Lines waiting for the drain thread before new ones are dropped.
const CAPACITY: usize = 16_384;

/// Logs one line per request, like Django's "ApiLoggerMiddleware", at
/// `info` level with target `greenloop::access`, through whatever `log`
/// backend the program installed.
///
/// The line is a sequence of `key=value` fields (logfmt), always in this order:
///
/// ```text
/// pid=4242 time=2026-05-01T10:00:00.123Z remote=203.0.113.7 method=POST uri=/api/items?x=1 status=201 elapsed_ms=3.217 ua="curl/8.5.0" body="{\"a\":1}"
/// ```
///
/// - `time`: when the request reached this middleware, RFC 3339 in UTC with milliseconds.
/// - `remote`: the client's IP: the peer from [`ConnInfo`](crate::http::ConnInfo), or,
///   when that peer is a trusted proxy, the right-most `X-Forwarded-For` address that
///   is not itself trusted (see [`trust_proxy`](AccessLog::trust_proxy)); `-` when unknown.
/// - `uri`: the path and query as received.
/// - `elapsed_ms`: the time the rest of the chain took to return the response
///   (a streamed body's sending is not included), 3 decimals.
/// - `request_id`: only when [`RequestIds`](super::RequestIds) runs (around
///   this middleware or inside it), the request's `X-Request-Id`.
/// - `ua`: the `User-Agent`; `-` when absent.
/// - `body`: only with [`log_body(true)`](AccessLog::log_body) (off by default:
///   bodies carry passwords and tokens), the first 2 KiB of the request body;
///   `-` when empty or not logged; followed by `truncated=true` when the body
///   was longer.
///
/// A value is written bare unless it is empty, `-`, or contains whitespace,
/// `"`, a control character or an invisible bidirectional formatting
/// character (U+061C, U+200E-F, U+202A-E, U+2066-9; they reorder what a
/// terminal shows); then it is quoted, with `"` and `\` backslash-escaped and
/// those characters written `\n`, `\r`, `\t`, `\xNN` or `\u{NNNN}` (the
/// same escaping as the watchdog's reports). Bytes that are not UTF-8 show
/// as U+FFFD.
///
/// # Never blocking the loop
/// The line is formatted on the worker and handed to a bounded queue
/// (16 384 lines) drained by one background thread per process, started at
/// the first logged request; that thread calls the `log` macro. When the
/// queue is full the line is dropped and counted ([`AccessLog::dropped`]),
/// so a slow log backend costs lines, never latency; the drain thread warns
/// (target `greenloop::log`) at most once per 10 s when lines were dropped,
/// and [`metrics::render`](crate::http::metrics::render) shows the count
/// (`greenloop_log_lines_dropped_total{sink="greenloop-access-log"}`).
/// Nothing is formatted when `log` has `greenloop::access` at `info` disabled.
///
/// # The request body
/// Off by default: request bodies hold passwords, tokens and personal data,
/// which do not belong in logs. With [`log_body(true)`](AccessLog::log_body),
/// the middleware reads the body's first 2 KiB (parking the green thread
/// until the first bytes arrive, then taking only what has arrived, so a
/// body slow to come never holds up the answer; the log line then says
/// `truncated=true`) and puts those bytes back in front of the body,
/// so the handler still reads all of it. This means an `Expect:
/// 100-continue` client is told to send its body even if the handler would
/// have refused it. If reading
/// that prefix fails (the client vanished, a malformed chunk, a timeout),
/// the handler is not called: the response is the error's (400 or 408).
#[derive(Clone, Debug)]
pub struct AccessLog {
    trusted: Vec<IpAddr>,
    log_body: bool,
    /// `None`: the process-wide queue and drain thread.
    sink: Option<Arc<LineSink>>,
}

impl Default for AccessLog {
    fn default() -> Self {
        AccessLog::new()
    }
}

impl AccessLog {
    /// An access log trusting no proxy and not logging request bodies.
    pub fn new() -> AccessLog {
        AccessLog { trusted: Vec::new(), log_body: false, sink: None }
    }

    /// Trusts the proxy at `ip`: when the peer is a trusted proxy, the client
    /// address is taken from `X-Forwarded-For`, walking it from the right and
    /// skipping trusted addresses. Peers not trusted have their
    /// `X-Forwarded-For` ignored (anyone can send one).
    pub fn trust_proxy(mut self, ip: impl Into<IpAddr>) -> AccessLog {
        self.trusted.push(canonical(ip.into()));
        self
    }

    /// Trusts every proxy in `ips`; see [`trust_proxy`](AccessLog::trust_proxy).
    pub fn trusted_proxies<I>(mut self, ips: I) -> AccessLog
    where
        I: IntoIterator,
        I::Item: Into<IpAddr>,
    {
        self.trusted.extend(ips.into_iter().map(|ip| canonical(ip.into())));
        self
    }

    /// Whether to log the first 2 KiB of request bodies (default: no, since
    /// bodies carry secrets; for debugging, on a server whose logs are as
    /// private as its requests).
    pub fn log_body(mut self, yes: bool) -> AccessLog {
        self.log_body = yes;
        self
    }

    /// How many lines were dropped, process-wide, because the queue was full.
    pub fn dropped() -> u64 {
        GLOBAL.get().map_or(0, LineSink::dropped)
    }

    /// Waits until every line queued so far has been handed to the `log`
    /// backend (and the backend flushed). For tests and shutdown.
    ///
    /// This blocks the calling OS thread: call it from `main` or a test,
    /// never from a handler.
    pub fn flush() {
        if let Some(sink) = GLOBAL.get() {
            sink.flush();
        }
    }

    fn sink(&self) -> &LineSink {
        match &self.sink {
            Some(s) => s,
            None => GLOBAL.get_or_init(|| start_sink(CAPACITY)),
        }
    }

    /// The client address: the peer, or from `X-Forwarded-For` when the peer
    /// is a trusted proxy.
    fn client_ip(&self, req: &Request) -> Option<IpAddr> {
        let peer = canonical(req.peer_addr()?.ip());
        if !self.trusted.contains(&peer) {
            return Some(peer);
        }
        let mut client = peer;
        for value in req.header_all("x-forwarded-for").rev() {
            let Ok(value) = std::str::from_utf8(value) else { return Some(client) };
            for hop in value.rsplit(',') {
                let Some(ip) = parse_hop(hop) else { return Some(client) };
                client = ip;
                if !self.trusted.contains(&ip) {
                    return Some(client);
                }
            }
        }
        Some(client)
    }
}

impl Middleware for AccessLog {
    fn call(&self, req: Request, next: Next<'_>) -> Response {
        if !log::log_enabled!(target: TARGET, log::Level::Info) {
            return next.run(req);
        }
        let start = Instant::now();
        let mut line = String::with_capacity(256);
        let _ = write!(line, "pid={} time=", pid());
        write_rfc3339(&mut line, SystemTime::now());
        line.push_str(" remote=");
        match self.client_ip(&req) {
            Some(ip) => {
                let _ = write!(line, "{ip}");
            }
            None => line.push('-'),
        }
        line.push_str(" method=");
        push_value(&mut line, req.method().as_str());
        line.push_str(" uri=");
        match req.target() {
            "" => push_value(&mut line, &req.uri().to_string()),
            target => push_value(&mut line, target),
        }
        let mut tail = String::new();
        tail.push_str(" ua=");
        match req.header(header::USER_AGENT) {
            Some(ua) => push_value(&mut tail, &String::from_utf8_lossy(ua)),
            None => tail.push('-'),
        }
        tail.push_str(" body=");

        let (req, outcome) = if self.log_body { peek_body(req) } else { (Some(req), Peek::Empty) };
        match &outcome {
            Peek::Empty => tail.push('-'),
            Peek::Bytes { shown, truncated } | Peek::Failed { shown, truncated, .. } => {
                push_value(&mut tail, shown);
                if *truncated {
                    tail.push_str(" truncated=true");
                }
            }
        }
        // Logged however the handler ends: a request whose client went
        // away (its waits cancelled, the handler unwound) as nginx's 499, a
        // panic as the 500 the server answers.
        let request_id = req.as_ref().and_then(RequestId::of);
        let mut pending = Pending { log: self, line, tail, start, status: None, request_id };
        let res = match (req, outcome) {
            (Some(req), _) => next.run(req),
            (None, Peek::Failed { error, .. }) => error.into_response(),
            (None, _) => unreachable_response(),
        };
        // Cancelled after all: the server answers 499 for it.
        pending.status = Some(if crate::cancel::is_cancelled() { 499 } else { res.status().as_u16() });
        if pending.request_id.is_none() {
            // `RequestIds` inside this middleware: the id is on the response.
            pending.request_id = res.headers().get(X_REQUEST_ID).and_then(RequestId::of_header);
        }
        drop(pending);
        res
    }
}

/// A request's log line, written when it is dropped: after the answer, or
/// while the handler unwinds.
struct Pending<'a> {
    log: &'a AccessLog,
    line: String,
    tail: String,
    start: Instant,
    status: Option<u16>,
    request_id: Option<RequestId>,
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        let status = self.status.unwrap_or(if crate::cancel::is_cancelled() { 499 } else { 500 });
        let ms = self.start.elapsed().as_secs_f64() * 1000.0;
        let mut line = std::mem::take(&mut self.line);
        let _ = write!(line, " status={status} elapsed_ms={ms:.3}");
        if let Some(id) = &self.request_id {
            line.push_str(" request_id=");
            push_value(&mut line, id.as_str());
        }
        line.push_str(&self.tail);
        self.log.sink().send(line);
    }
}

/// `peek_body` returns no request only with `Peek::Failed`; answer 500
/// rather than panic should that ever change.
fn unreachable_response() -> Response {
    (http::StatusCode::INTERNAL_SERVER_ERROR, "access log: lost the request\n").into_response()
}

/// What was seen of the body.
enum Peek {
    /// No body, so nothing read.
    Empty,
    /// The start of the body, rendered; the bytes went back into the body.
    Bytes { shown: String, truncated: bool },
    /// Reading failed after `shown`: the request is gone, answer `error`.
    Failed { shown: String, truncated: bool, error: io::Error },
}

/// Reads up to [`BODY_LIMIT`] bytes (plus one, to know whether there is
/// more), waiting for the first only, and puts them back in front of the body.
fn peek_body(mut req: Request) -> (Option<Request>, Peek) {
    let mut body = std::mem::take(req.body_mut());
    let declared = body.content_length();
    if declared == Some(0) {
        *req.body_mut() = body;
        return (Some(req), Peek::Empty);
    }
    let want = BODY_LIMIT + 1;
    let mut buf = vec![0u8; declared.map_or(want, |n| n.min(want as u64) as usize)];
    let mut got = 0;
    let mut error = None;
    // Stopped before the end of what it wanted, with more of the body to come.
    let mut more = false;
    while got < buf.len() {
        // Waits for the first bytes only, then takes what has arrived: the
        // log must not hold up the answer (a 404, say) for a body that is
        // slow to come and that the handler may never read.
        let read = if got == 0 { body.read(&mut buf[got..]) } else { body.read_arrived(&mut buf[got..]) };
        match read {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                more = true;
                break;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                error = Some(e);
                break;
            }
        }
    }
    buf.truncate(got);
    let truncated = got > BODY_LIMIT || more;
    let shown = render_body(&buf[..got.min(BODY_LIMIT)], truncated);
    if let Some(error) = error {
        return (None, Peek::Failed { shown, truncated, error });
    }
    if got == 0 {
        *req.body_mut() = body;
        return (Some(req), Peek::Empty);
    }
    *req.body_mut() = body.prepend(buf);
    (Some(req), Peek::Bytes { shown, truncated })
}

/// Body bytes as text: lossy UTF-8, except that a character cut in half by
/// truncation is left out rather than shown as U+FFFD.
fn render_body(bytes: &[u8], truncated: bool) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(e) if truncated && e.error_len().is_none() => {
            String::from_utf8_lossy(&bytes[..e.valid_up_to()]).into_owned()
        }
        Err(_) => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// IPv4-mapped IPv6 addresses (from dual-stack listeners) as plain IPv4.
fn canonical(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

/// One `X-Forwarded-For` entry: `1.2.3.4`, `1.2.3.4:80`, `::1`, `[::1]` or `[::1]:80`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    let ip = hop
        .parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| hop.strip_prefix('[')?.strip_suffix(']')?.parse().ok())?;
    Some(canonical(ip))
}

/// The process-wide queue of access lines (started at the first logged request).
static GLOBAL: OnceLock<LineSink> = OnceLock::new();

/// A queue of `capacity` lines whose thread hands each to the `log` backend.
/// Should the thread not start, lines are queued, then dropped and counted.
fn start_sink(capacity: usize) -> LineSink {
    LineSink::start(
        "greenloop-access-log",
        capacity,
        |line| log::info!(target: TARGET, "{line}"),
        || log::logger().flush(),
    )
    .unwrap_or_else(|_| LineSink::undrained(capacity).0)
}

fn pid() -> u32 {
    static PID: OnceLock<u32> = OnceLock::new();
    *PID.get_or_init(std::process::id)
}

#[cfg(test)]
mod tests {
    use std::sync::{Mutex, Once};
    use std::time::Duration;

    use super::*;
    use crate::http::{App, Body, ConnInfo};

    static LINES: Mutex<Vec<String>> = Mutex::new(Vec::new());

    struct TestLog;

    impl log::Log for TestLog {
        fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
            metadata.target() == TARGET
        }
        fn log(&self, record: &log::Record<'_>) {
            if self.enabled(record.metadata()) {
                LINES.lock().unwrap().push(record.args().to_string());
            }
        }
        fn flush(&self) {}
    }

    fn install_logger() {
        static ONCE: Once = Once::new();
        ONCE.call_once(|| {
            log::set_logger(&TestLog).expect("no other logger in the unit tests");
            log::set_max_level(log::LevelFilter::Info);
        });
    }

    /// The logged line whose `uri` field is exactly `uri`.
    fn line_for(uri: &str) -> String {
        AccessLog::flush();
        let needle = format!(" uri={uri} ");
        let lines = LINES.lock().unwrap();
        let found: Vec<_> = lines.iter().filter(|l| l.contains(&needle)).collect();
        assert_eq!(found.len(), 1, "one line for {uri} in {lines:#?}");
        found[0].clone()
    }

    fn field<'a>(line: &'a str, key: &str) -> &'a str {
        let start = line.find(&format!(" {key}=")).unwrap_or_else(|| panic!("no {key} in {line}")) + key.len() + 2;
        let rest = &line[start..];
        if rest.starts_with('"') {
            let mut end = 1;
            let bytes = rest.as_bytes();
            while bytes[end] != b'"' {
                end += if bytes[end] == b'\\' { 2 } else { 1 };
            }
            &rest[..=end]
        } else {
            rest.split(' ').next().unwrap()
        }
    }

    fn request(method: &str, uri: &str, peer: Option<&str>) -> crate::http::request::RequestBuilder {
        let mut b = Request::builder().method(method).uri(uri);
        if let Some(p) = peer {
            b = b.extension(ConnInfo { peer: Some(p.parse().unwrap()), worker: 0, request_id: 1 });
        }
        b
    }

    fn echo_len(mut req: Request) -> String {
        let body = req.body_mut().read_to_vec(1 << 20).unwrap();
        format!("{} {}", body.len(), body.iter().map(|&b| b as u64).sum::<u64>())
    }

    fn text(res: &Response) -> &str {
        std::str::from_utf8(res.body().as_bytes().unwrap()).unwrap()
    }

    #[test]
    fn request_id_shown_whichever_side_of_the_log_the_ids_are_made() {
        use crate::http::middleware::RequestIds;
        install_logger();
        let outer = App::new(|_req: Request| "x").wrap(RequestIds::new()).wrap(AccessLog::new());
        let res = outer
            .call(request("GET", "/t/id-outer", None).header("x-request-id", "abc-123").body(Body::empty()).unwrap());
        assert_eq!(res.headers()["x-request-id"], "abc-123");
        let line = line_for("/t/id-outer");
        assert_eq!(field(&line, "request_id"), "abc-123");
        assert!(line.contains(" elapsed_ms=") && line.find(" request_id=") < line.find(" ua="), "{line}");
        let inner = App::new(|_req: Request| "x").wrap(AccessLog::new()).wrap(RequestIds::new());
        let res = inner.call(request("GET", "/t/id-inner", None).body(Body::empty()).unwrap());
        let line = line_for("/t/id-inner");
        assert_eq!(field(&line, "request_id"), res.headers()["x-request-id"].to_str().unwrap());
        let none = App::new(|_req: Request| "x").wrap(AccessLog::new());
        none.call(request("GET", "/t/id-none", None).body(Body::empty()).unwrap());
        assert!(!line_for("/t/id-none").contains("request_id="));
    }

    #[test]
    fn line_content() {
        install_logger();
        let app = App::new(|_req: Request| (http::StatusCode::CREATED, "made")).wrap(AccessLog::new().log_body(true));
        let req = request("POST", "/t/content?q=a%20b", Some("192.0.2.9:4000"))
            .header("user-agent", "curl/8.5.0 (x86_64) \"quoted\"")
            .body(Body::from("{\"a\": 1}\nline2\u{1b}"))
            .unwrap();
        let res = app.call(req);
        assert_eq!(res.status(), 201);
        let line = line_for("/t/content?q=a%20b");
        assert!(line.starts_with(&format!("pid={} time=", std::process::id())), "{line}");
        assert_eq!(field(&line, "remote"), "192.0.2.9");
        assert_eq!(field(&line, "method"), "POST");
        assert_eq!(field(&line, "status"), "201");
        assert_eq!(field(&line, "ua"), r#""curl/8.5.0 (x86_64) \"quoted\"""#);
        assert_eq!(field(&line, "body"), r#""{\"a\": 1}\nline2\x1b""#);
        assert!(!line.contains("truncated"));
        let time = field(&line, "time");
        assert_eq!(time.len(), "2026-05-01T10:00:00.123Z".len(), "{time}");
        assert!(time.ends_with('Z') && time.as_bytes()[10] == b'T');
        let ms = field(&line, "elapsed_ms");
        assert_eq!(ms.split_once('.').unwrap().1.len(), 3);
        assert!(!line.contains('\n'));
    }

    #[test]
    fn empty_body_and_missing_facts() {
        install_logger();
        let app = App::new(|_req: Request| "ok").wrap(AccessLog::new());
        app.call(request("GET", "/t/empty", None).body(Body::empty()).unwrap());
        let line = line_for("/t/empty");
        assert_eq!(field(&line, "remote"), "-");
        assert_eq!(field(&line, "ua"), "-");
        assert_eq!(field(&line, "body"), "-");
        assert!(line.ends_with(" body=-"), "{line}");
    }

    #[test]
    fn large_body_truncated_and_handler_reads_all() {
        install_logger();
        let data: Vec<u8> = (0..5 * 1024).map(|i| b'a' + (i % 26) as u8).collect();
        let expected = format!("{} {}", data.len(), data.iter().map(|&b| b as u64).sum::<u64>());
        let app = App::new(echo_len).wrap(AccessLog::new().log_body(true));
        let res = app.call(request("PUT", "/t/large", Some("192.0.2.1:1")).body(Body::from(data.clone())).unwrap());
        assert_eq!(text(&res), expected, "the handler saw the whole body");
        let line = line_for("/t/large");
        assert_eq!(field(&line, "body"), std::str::from_utf8(&data[..BODY_LIMIT]).unwrap());
        assert!(line.ends_with(" truncated=true"), "{}", &line[line.len() - 40..]);
    }

    #[test]
    fn body_of_exactly_the_limit_is_not_truncated() {
        install_logger();
        let data = vec![b'z'; BODY_LIMIT];
        let app = App::new(echo_len).wrap(AccessLog::new().log_body(true));
        let res = app.call(request("POST", "/t/exact", None).body(Body::from(data)).unwrap());
        assert!(text(&res).starts_with("2048 "));
        let line = line_for("/t/exact");
        assert_eq!(field(&line, "body").len(), BODY_LIMIT);
        assert!(!line.contains("truncated"));
    }

    #[test]
    fn body_not_utf8_is_lossy_and_cut_chars_left_out() {
        install_logger();
        let app = App::new(echo_len).wrap(AccessLog::new().log_body(true));
        app.call(request("POST", "/t/binary", None).body(Body::from(vec![b'o', b'k', 0xff, 0x00])).unwrap());
        assert_eq!(field(&line_for("/t/binary"), "body"), "\"ok\u{fffd}\\x00\"");

        // A two-byte character straddling the 2 KiB cut.
        let mut data = vec![b'x'; BODY_LIMIT - 1];
        data.extend_from_slice("é and more".as_bytes());
        let res = app.call(request("POST", "/t/cut", None).body(Body::from(data.clone())).unwrap());
        assert!(text(&res).starts_with(&format!("{} ", data.len())));
        let line = line_for("/t/cut");
        assert_eq!(field(&line, "body"), "x".repeat(BODY_LIMIT - 1));
        assert!(line.ends_with(" truncated=true"));
    }

    #[test]
    fn bodies_are_not_logged_unless_asked() {
        install_logger();
        let app = App::new(echo_len).wrap(AccessLog::new());
        let res = app.call(request("POST", "/t/nobody", None).body(Body::from("password=hunter2")).unwrap());
        assert!(text(&res).starts_with("16 "));
        let line = line_for("/t/nobody");
        assert_eq!(field(&line, "body"), "-");
        assert!(!line.contains("hunter2"), "{line}");

        let app = App::new(echo_len).wrap(AccessLog::new().log_body(true).log_body(false));
        app.call(request("POST", "/t/nobody/off", None).body(Body::from("secret")).unwrap());
        assert_eq!(field(&line_for("/t/nobody/off"), "body"), "-");
    }

    #[test]
    fn controls_and_bidi_characters_are_escaped_in_every_field() {
        install_logger();
        // Each class: C0 (ESC), C1 (U+009B, CSI), the line separator, the
        // bidi marks, embeddings, overrides and isolates.
        let evil = "a\u{1b}[31m\u{9b}2J\u{2028}\u{200e}\u{200f}\u{202a}\u{202e}txt.exe\u{2066}\u{2069}b";
        let escaped = r#""a\x1b[31m\u{009b}2J\u{2028}\u{200e}\u{200f}\u{202a}\u{202e}txt.exe\u{2066}\u{2069}b""#;
        let app = App::new(echo_len).wrap(AccessLog::new().log_body(true));
        let req = request("POST", "/t/evil", None)
            // A header value cannot hold C0 controls but may hold the others.
            .header("user-agent", http::HeaderValue::from_bytes(evil.replace('\u{1b}', "").as_bytes()).unwrap())
            .body(Body::from(evil))
            .unwrap();
        app.call(req);
        let line = line_for("/t/evil");
        assert_eq!(field(&line, "ua"), escaped.replace("\\x1b", ""));
        assert_eq!(field(&line, "body"), escaped);
        let raw: Vec<char> =
            line.chars().filter(|&c| c.is_control() || ('\u{2000}'..='\u{206f}').contains(&c)).collect();
        assert!(raw.is_empty(), "raw {raw:?} in {line:?}");
    }

    fn client(log: &AccessLog, peer: &str, xff: &[&str]) -> Option<IpAddr> {
        let mut b = request("GET", "/", Some(peer));
        for v in xff {
            b = b.header("x-forwarded-for", *v);
        }
        log.client_ip(&b.body(Body::empty()).unwrap())
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn forwarded_for_ignored_from_untrusted_peer() {
        let log = AccessLog::new().trust_proxy([10, 0, 0, 1]);
        assert_eq!(client(&log, "198.51.100.7:5000", &["1.1.1.1"]), ip("198.51.100.7"));
        assert_eq!(client(&AccessLog::new(), "10.0.0.1:5000", &["1.1.1.1"]), ip("10.0.0.1"));
    }

    #[test]
    fn forwarded_for_walked_from_the_right_behind_trusted_proxies() {
        let log = AccessLog::new().trusted_proxies([ip("10.0.0.1").unwrap(), ip("10.0.0.2").unwrap()]);
        // One proxy.
        assert_eq!(client(&log, "10.0.0.1:1", &["203.0.113.5"]), ip("203.0.113.5"));
        // A spoofed left-most entry is not believed.
        assert_eq!(client(&log, "10.0.0.1:1", &["6.6.6.6, 203.0.113.5"]), ip("203.0.113.5"));
        // Two proxies: skip the trusted hop.
        assert_eq!(client(&log, "10.0.0.1:1", &["6.6.6.6, 203.0.113.5, 10.0.0.2"]), ip("203.0.113.5"));
        // Split over several header lines, in order.
        assert_eq!(client(&log, "10.0.0.1:1", &["6.6.6.6", "203.0.113.5", "10.0.0.2"]), ip("203.0.113.5"));
        // All trusted: the left-most.
        assert_eq!(client(&log, "10.0.0.1:1", &["10.0.0.2, 10.0.0.1"]), ip("10.0.0.2"));
        // No header: the proxy itself.
        assert_eq!(client(&log, "10.0.0.1:1", &[]), ip("10.0.0.1"));
        // Garbage stops the walk at the last trusted hop.
        assert_eq!(client(&log, "10.0.0.1:1", &["203.0.113.5, garbage, 10.0.0.2"]), ip("10.0.0.2"));
        assert_eq!(client(&log, "10.0.0.1:1", &["1.1.1.1,"]), ip("10.0.0.1"));
        // Ports and IPv6 forms.
        assert_eq!(client(&log, "10.0.0.1:1", &["203.0.113.5:4431"]), ip("203.0.113.5"));
        assert_eq!(client(&log, "10.0.0.1:1", &["[2001:db8::1]:443"]), ip("2001:db8::1"));
        assert_eq!(client(&log, "10.0.0.1:1", &["[2001:db8::1]"]), ip("2001:db8::1"));
        assert_eq!(client(&log, "10.0.0.1:1", &[" 2001:db8::2 "]), ip("2001:db8::2"));
        // An IPv4-mapped peer (dual-stack listener) is the same proxy.
        assert_eq!(client(&log, "[::ffff:10.0.0.1]:1", &["203.0.113.5"]), ip("203.0.113.5"));
    }

    #[test]
    fn remote_field_uses_forwarded_for_when_trusted() {
        install_logger();
        let app = App::new(|_req: Request| "ok").wrap(AccessLog::new().trust_proxy([127, 0, 0, 1]));
        let req = request("GET", "/t/xff", Some("127.0.0.1:9"))
            .header("x-forwarded-for", "6.6.6.6, 203.0.113.77")
            .body(Body::empty())
            .unwrap();
        app.call(req);
        assert_eq!(field(&line_for("/t/xff"), "remote"), "203.0.113.77");
    }

    #[test]
    fn full_queue_drops_and_counts() {
        install_logger();
        // A disconnected queue (receiver gone) drops too.
        let sink = Arc::new(LineSink::closed());
        let log = AccessLog { sink: Some(sink.clone()), ..AccessLog::new() };
        let app = App::new(|_req: Request| "ok").wrap(log);
        app.call(request("GET", "/t/gone", None).body(Body::empty()).unwrap());
        assert_eq!(sink.dropped(), 1);

        let (sink, rx) = LineSink::undrained(2);
        let sink = Arc::new(sink);
        let app = App::new(|_req: Request| "ok").wrap(AccessLog { sink: Some(sink.clone()), ..AccessLog::new() });
        for i in 0..5 {
            let res = app.call(request("GET", &format!("/t/full/{i}"), None).body(Body::empty()).unwrap());
            assert_eq!(res.status(), 200, "a dropped line never fails the request");
        }
        assert_eq!(sink.dropped(), 3);
        assert_eq!(rx.len(), 2);
        sink.flush(); // no drain thread: returns at once
        let first = match rx.try_recv() {
            Ok(crate::http::log_sink::Msg::Line(l)) => l,
            other => panic!("{other:?}"),
        };
        assert!(first.contains(" uri=/t/full/0 "), "{first}");
    }

    #[test]
    fn own_sink_with_drain_thread_flushes() {
        install_logger();
        let sink = Arc::new(start_sink(4));
        let app = App::new(|_req: Request| "ok").wrap(AccessLog { sink: Some(sink.clone()), ..AccessLog::new() });
        for i in 0..20 {
            app.call(request("GET", &format!("/t/own/{i}"), None).body(Body::empty()).unwrap());
        }
        sink.flush();
        let logged = LINES.lock().unwrap().iter().filter(|l| l.contains(" uri=/t/own/")).count() as u64;
        assert_eq!(logged + sink.dropped(), 20);
        assert!(logged >= 4);
    }

    #[test]
    fn elapsed_covers_a_parked_handler() {
        install_logger();
        crate::run(|| {
            let handler = |_req: Request| {
                crate::sleep(Duration::from_millis(25));
                "slow"
            };
            App::new(handler).wrap(AccessLog::new()).call(request("GET", "/t/slow", None).body(Body::empty()).unwrap());
        });
        let line = line_for("/t/slow");
        let ms: f64 = field(&line, "elapsed_ms").parse().unwrap();
        assert!(ms >= 25.0, "{line}");
    }
}
