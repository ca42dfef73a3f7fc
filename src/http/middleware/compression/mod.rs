//! [`Compression`]: response bodies in br, zstd or gzip, as the client's
//! `Accept-Encoding` prefers.

mod encoder;

use http::header::{self, HeaderValue};
use http::{HeaderMap, Method, StatusCode};

use crate::http::accept_encoding::{Accepted, Coding};
use crate::http::response::Kind;
use crate::http::{Middleware, Next, Request, Response, ResponseBody};

/// Bodies known to be smaller than this are sent as they are: the
/// encoding's own overhead and the CPU are not worth it below ~1 KiB.
const DEFAULT_MIN_SIZE: u64 = 1024;
/// Bodies known up front up to this size are compressed at once and sent
/// with `Content-Length`; larger ones, and streams, are compressed as they
/// go out, chunked.
const AT_ONCE_MAX: usize = 64 * 1024;
/// The server's order of preference when the client weighs codings alike:
/// zstd and brotli compress better than gzip for the same CPU.
const OFFERED: [Coding; 3] = [Coding::Zstd, Coding::Br, Coding::Gzip];
/// Streamed compressions running at once on one worker, by default.
const DEFAULT_MAX_STREAMS: usize = 16;

thread_local! {
    /// Streamed compressions running on this worker's thread now.
    static STREAMS: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// One streamed compression counted in `STREAMS` until dropped (with the
/// body, sent or not).
struct StreamSlot;

impl StreamSlot {
    /// A slot if fewer than `max` streams run on this thread.
    fn take(max: usize) -> Option<StreamSlot> {
        STREAMS.with(|n| (n.get() < max).then(|| n.set(n.get() + 1))).map(|()| StreamSlot)
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let _ = STREAMS.try_with(|n| n.set(n.get().saturating_sub(1)));
    }
}

/// Compresses response bodies with the coding the client prefers among
/// brotli (`br`), zstd and gzip, by the `q` weights of its
/// `Accept-Encoding` (`q=0` refuses a coding, `*` covers those not named,
/// `identity` alone gets none; ties go to zstd, then br, then gzip).
///
/// ```
/// use greenloop::http::middleware::Compression;
/// use greenloop::http::{App, Request};
///
/// let app = App::new(|_req: Request| "some text".repeat(200)).wrap(Compression::new());
/// # drop(app);
/// ```
///
/// What it leaves alone: `HEAD` requests; `1xx`, `204`, `206`, `304` and
/// `416` responses (and any with `Content-Range`: ranges address the
/// identity bytes); responses that already have `Content-Encoding` (a
/// precompressed file) or `Cache-Control: no-transform`; bodies known to
/// be smaller than [`min_size`](Self::min_size) (1 KiB); and every type
/// that is not text-like: only `text/*` (but `text/event-stream`, whose
/// events must not wait in an encoder), JSON, JavaScript, XML, `+json` and
/// `+xml` types, SVG and WebAssembly are compressed; images, video, audio,
/// archives and fonts such as WOFF2 are compressed already.
///
/// A compressed response loses `Content-Length` and `Accept-Ranges`, gets
/// `Content-Encoding`, and a strong `ETag` becomes weak (the bytes differ
/// from the identity ones). Every compressible response gets
/// `Vary: Accept-Encoding`, so caches keep the variants apart.
///
/// Cost: bodies up to 64 KiB are compressed at once (gzip level 6,
/// brotli quality 4, zstd level 3: fast levels) and keep a
/// `Content-Length`; larger bodies and streams are compressed as they are
/// written, chunked, 16 KiB of input at a time, pausing for the loop (an
/// I/O poll and every other green thread) after each 2 ms of work, so a
/// 10 MiB body does not hold the worker; and memory per
/// stream stays bounded (the encoder's state with a 64 KiB window for
/// brotli and zstd, 32 KiB for gzip, and 16 KiB of output), as does the
/// number of streams ([`max_streams`](Self::max_streams)).
/// docs/PERFORMANCE.md has the time each coding takes per request.
#[derive(Clone, Debug)]
pub struct Compression {
    min_size: u64,
    max_streams: usize,
}

impl Compression {
    /// The middleware with the defaults above.
    pub fn new() -> Compression {
        Compression { min_size: DEFAULT_MIN_SIZE, max_streams: DEFAULT_MAX_STREAMS }
    }

    /// How many streamed compressions may run at once on one worker
    /// (default 16); responses beyond go out uncompressed. Each holds its
    /// encoder's state (about 0.1 MiB for gzip and zstd, 1.7 MiB for brotli:
    /// docs/PERFORMANCE.md), for as long as
    /// its client takes to read the body: without a bound, many slow clients
    /// of large text responses would hold gigabytes.
    pub fn max_streams(mut self, n: usize) -> Compression {
        self.max_streams = n;
        self
    }

    /// Bodies known to be smaller than `bytes` are not compressed
    /// (default 1024). Streams, whose size is unknown, always are.
    pub fn min_size(mut self, bytes: u64) -> Compression {
        self.min_size = bytes;
        self
    }

    /// Whether `res` is a candidate at all (then it varies on `Accept-Encoding`).
    fn compressible(&self, res: &Response) -> bool {
        // The cheapest test first: most small answers end here, before any
        // header is looked up.
        if res.body().len().is_some_and(|n| n < self.min_size) {
            return false;
        }
        let status = res.status();
        if status.is_informational()
            || matches!(
                status,
                StatusCode::NO_CONTENT
                    | StatusCode::PARTIAL_CONTENT
                    | StatusCode::NOT_MODIFIED
                    | StatusCode::RANGE_NOT_SATISFIABLE
            )
        {
            return false;
        }
        let h = res.headers();
        if h.contains_key(header::CONTENT_ENCODING) || h.contains_key(header::CONTENT_RANGE) || no_transform(h) {
            return false;
        }
        h.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(compressible_type)
    }
}

impl Default for Compression {
    fn default() -> Self {
        Compression::new()
    }
}

impl Middleware for Compression {
    fn call(&self, req: Request, next: Next<'_>) -> Response {
        let head = req.method() == Method::HEAD;
        // Parsed only when the client names an encoding at all.
        let mut values = req.header_all(header::ACCEPT_ENCODING.as_str()).peekable();
        let accepted = values.peek().is_some().then(|| Accepted::from_values(values));
        let mut res = next.run(req);
        if head || !self.compressible(&res) {
            return res;
        }
        add_vary(res.headers_mut());
        match accepted.and_then(|a| a.best(&OFFERED)) {
            Some(coding) => compress(res, coding, self.max_streams),
            None => res,
        }
    }
}

/// `res` with its body in `coding` (as it is, past `max_streams` streams).
fn compress(res: Response, coding: Coding, max_streams: usize) -> Response {
    let at_once = res.body().as_bytes().is_some_and(|b| b.len() <= AT_ONCE_MAX);
    let slot = if at_once {
        None
    } else {
        match StreamSlot::take(max_streams) {
            Some(slot) => Some(slot),
            None => return res,
        }
    };
    let (mut parts, body) = res.into_parts();
    let body = match body.into_kind() {
        Kind::Bytes(b) if b.len() <= AT_ONCE_MAX => match encoder::compress_bytes(coding, &b) {
            Ok(v) => ResponseBody::from(v),
            Err(e) => {
                // Not expected (in-memory writes); the identity body still is right.
                log::warn!("greenloop: compression: {e}; sending the body as it is");
                return Response::from_parts(parts, ResponseBody::from(b.into_owned()));
            }
        },
        kind => ResponseBody::stream(move |w| {
            let _slot = slot;
            encoder::compress_stream(coding, kind, w)
        }),
    };
    let h = &mut parts.headers;
    h.remove(header::CONTENT_LENGTH);
    h.remove(header::ACCEPT_RANGES);
    h.insert(header::CONTENT_ENCODING, HeaderValue::from_static(coding.token()));
    if let Some(tag) = h.get(header::ETAG).and_then(|v| v.to_str().ok())
        && tag.starts_with('"')
        && let Ok(weak) = HeaderValue::try_from(format!("W/{tag}"))
    {
        h.insert(header::ETAG, weak);
    }
    Response::from_parts(parts, body)
}

/// Text-like types, which compress well; everything else (images, video,
/// audio, archives, fonts, octet streams) is left alone.
fn compressible_type(ct: &str) -> bool {
    let essence = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if essence == "text/event-stream" {
        return false;
    }
    essence.starts_with("text/")
        || essence.ends_with("+json")
        || essence.ends_with("+xml")
        || matches!(
            essence.as_str(),
            "application/json"
                | "application/javascript"
                | "application/x-javascript"
                | "application/ecmascript"
                | "application/xml"
                | "application/x-ndjson"
                | "application/wasm"
                | "image/svg+xml"
                | "image/x-icon"
                | "font/ttf"
                | "font/otf"
        )
}

fn no_transform(h: &HeaderMap) -> bool {
    h.get_all(header::CACHE_CONTROL)
        .iter()
        .any(|v| v.to_str().is_ok_and(|v| v.split(',').any(|d| d.trim().eq_ignore_ascii_case("no-transform"))))
}

/// Adds `accept-encoding` to `Vary` unless it is there (or `Vary: *`).
fn add_vary(h: &mut HeaderMap) {
    let present = h.get_all(header::VARY).iter().any(|v| {
        v.to_str()
            .is_ok_and(|v| v.split(',').any(|t| t.trim() == "*" || t.trim().eq_ignore_ascii_case("accept-encoding")))
    });
    if !present {
        h.append(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{App, Body, IntoResponse};

    fn get(accept: &str, app: &App) -> Response {
        let req = Request::builder().uri("/").header("accept-encoding", accept).body(Body::empty()).unwrap();
        app.call(req)
    }

    #[test]
    fn picks_by_weight_and_skips_what_it_should() {
        let text = || App::new(|_req: Request| "text ".repeat(500)).wrap(Compression::new());
        let r = get("gzip;q=0.5, br", &text());
        assert_eq!(r.headers()["content-encoding"], "br");
        assert_eq!(r.headers()["vary"], "accept-encoding");
        assert!(r.body().len().unwrap() < 200);
        assert_eq!(get("gzip, br, zstd", &text()).headers()["content-encoding"], "zstd");
        assert!(get("identity", &text()).headers().get("content-encoding").is_none());
        assert!(get("gzip;q=0, *;q=0", &text()).headers().get("content-encoding").is_none());
        assert!(get("identity", &text()).headers().contains_key("vary"));

        let small = App::new(|_req: Request| "tiny").wrap(Compression::new());
        assert!(get("gzip", &small).headers().get("content-encoding").is_none());
        let png = App::new(|_req: Request| {
            let mut r = vec![0u8; 5000].into_response();
            r.headers_mut().insert("content-type", HeaderValue::from_static("image/png"));
            r
        })
        .wrap(Compression::new());
        assert!(get("gzip", &png).headers().get("content-encoding").is_none());
        let partial =
            App::new(|_req: Request| (StatusCode::PARTIAL_CONTENT, "x".repeat(5000))).wrap(Compression::new());
        assert!(get("gzip", &partial).headers().get("content-encoding").is_none());
    }

    #[test]
    fn streams_beyond_the_bound_go_out_as_they_are() {
        let app = App::new(|_req: Request| "big text ".repeat(20_000)).wrap(Compression::new().max_streams(2));
        let first = get("gzip", &app);
        let second = get("gzip", &app);
        let third = get("gzip", &app);
        assert!(first.headers().contains_key("content-encoding") && second.headers().contains_key("content-encoding"));
        assert!(!third.headers().contains_key("content-encoding"), "a third stream at once: identity");
        assert_eq!(third.body().len(), Some(180_000));
        drop(first);
        assert_eq!(get("gzip", &app).headers()["content-encoding"], "gzip", "a slot freed with its body");
        let small = App::new(|_req: Request| "text ".repeat(500)).wrap(Compression::new().max_streams(0));
        assert_eq!(get("br", &small).headers()["content-encoding"], "br", "bodies compressed at once need no slot");
    }

    #[test]
    fn streams_lose_length_and_strong_tags() {
        let app = App::new(|_req: Request| {
            let mut r =
                Response::new(ResponseBody::from_reader(std::io::Cursor::new(vec![b'a'; 200_000]), Some(200_000)));
            r.headers_mut().insert("content-type", HeaderValue::from_static("text/plain"));
            r.headers_mut().insert("etag", HeaderValue::from_static("\"v1\""));
            r.headers_mut().insert("accept-ranges", HeaderValue::from_static("bytes"));
            r
        })
        .wrap(Compression::new());
        let r = get("gzip", &app);
        assert_eq!(r.headers()["content-encoding"], "gzip");
        assert_eq!(r.headers()["etag"], "W/\"v1\"");
        assert!(!r.headers().contains_key("accept-ranges"));
        assert_eq!(r.body().len(), None, "streamed, chunked");
    }
}
