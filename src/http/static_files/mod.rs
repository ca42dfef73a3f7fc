//! [`ServeDir`]: a directory served over HTTP, its file bodies sent with
//! `sendfile(2)`.

mod range;
mod resolve;
mod validators;

use std::fs::{File, Metadata};
use std::path::Path;
use std::sync::Arc;

use http::header::{self, HeaderValue};
use http::{Method, StatusCode};

use super::accept_encoding::{Accepted, Coding};
use super::response::{IntoResponse, ResponseBody};
use super::router::Params;
use super::{Handler, Request, Response};
use range::RangeAsk;
use resolve::Root;
use validators::Validators;

/// Serves the files under a directory: a [`Handler`] for a route with a
/// trailing wildcard, such as `/static/{*path}` (the route's last parameter
/// names the file; without parameters, the whole request path does).
///
/// ```no_run
/// use greenloop::http::{Router, Server, ServeDir, get};
///
/// let router = Router::new().route("/static/{*path}", get(ServeDir::new("./public")));
/// Server::bind("127.0.0.1:8000").serve(router).unwrap();
/// ```
///
/// What it answers:
/// - `GET` and `HEAD` (others: `405`), with `Content-Type` from the file's
///   extension, a strong `ETag` (size and modification time) and
///   `Last-Modified`; `If-None-Match` / `If-Modified-Since` that match: `304`.
/// - `Range: bytes=a-b` (one range, also `a-` and `-n`): `206` with
///   `Content-Range`; a range past the end: `416`. Several ranges in one
///   request are answered with the whole file (`200`), which RFC 9110 allows.
///   `If-Range` is honoured.
/// - A directory: its `index.html`; asked for without the trailing slash
///   (`/static/docs`), a `301` to `/static/docs/` so relative links work.
///   No listings.
/// - Precompressed siblings: with `Accept-Encoding` allowing it, `app.js.br`
///   or `app.js.gz` is sent for `app.js` with `Content-Encoding` and
///   `Vary: Accept-Encoding` (not for `Range` requests, which address the
///   file's own bytes). Turn off with [`precompressed(false)`](Self::precompressed).
/// - `404` for anything that leaves the directory: `..` segments, also
///   percent-encoded (`%2e%2e`); encoded slashes or backslashes (`%2f`,
///   `%5c`); NUL bytes; symbolic links whose target is outside the root
///   (the path is resolved with every link followed, then must lie under
///   the root's own resolved path). Links that stay inside are followed.
///   Hidden files (`.env`, `.git/`) are not special: keep them out of the
///   served directory, as with nginx's `root`.
///
/// The body is sent with `sendfile(2)` on plain TCP and Unix connections
/// (see [`ResponseBody::file`]), read and written under TLS.
///
/// # Blocking
/// Resolving the path, `open` and `fstat` run on the connection's green
/// thread, hence on the worker's event loop: microseconds for files in the
/// page cache of a local disk, which is what a static tree of a web server
/// is, so they are not sent to the offload pool (a round trip there costs
/// more than the calls). On a slow or network file system those calls can
/// take milliseconds and hold the loop; wrap the handler in
/// [`offload`](crate::offload) then, or put the files on local disk. The
/// file's bytes are read by the kernel inside `sendfile`, one megabyte per
/// call at most, between which the loop gets its turns.
#[derive(Clone, Debug)]
pub struct ServeDir {
    /// The root (every served path must resolve below it).
    root: Arc<Root>,
    precompressed: bool,
}

impl ServeDir {
    /// Serves the files under `root`. The root is resolved and opened now
    /// (a directory moved or replaced later is not followed); if it does
    /// not exist yet, every request answers `404` until it does.
    pub fn new(root: impl AsRef<Path>) -> ServeDir {
        ServeDir { root: Arc::new(Root::new(root.as_ref())), precompressed: true }
    }

    /// Whether `name.br` / `name.gz` beside a file are sent in its place to
    /// clients that accept them (default: yes).
    pub fn precompressed(mut self, on: bool) -> ServeDir {
        self.precompressed = on;
        self
    }

    fn answer(&self, req: &Request) -> Response {
        if req.method() != Method::GET && req.method() != Method::HEAD {
            let mut r = StatusCode::METHOD_NOT_ALLOWED.into_response();
            r.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return r;
        }
        let raw = req.path();
        let decoded = match req.extensions().get::<Params>().and_then(|p| p.iter().last()) {
            Some((_, value)) => std::borrow::Cow::Borrowed(value),
            None => super::query::percent_decode_path(raw),
        };
        let Some(rel) = resolve::relative(raw, &decoded) else { return not_found() };
        let Some((file, meta)) = self.open(&rel) else { return not_found() };
        if meta.is_dir() {
            if !decoded.ends_with('/') && !decoded.is_empty() {
                return redirect_to_dir(req);
            }
            let index = rel.join("index.html");
            return match self.open(&index) {
                Some((file, meta)) if meta.is_file() => self.send(req, &index, file, meta),
                _ => not_found(),
            };
        }
        if !meta.is_file() {
            return not_found();
        }
        self.send(req, &rel, file, meta)
    }

    /// Opens `rel` if it resolves under the root; `None` for anything that
    /// does not exist, is not readable, or lies outside.
    fn open(&self, rel: &Path) -> Option<(File, Metadata)> {
        match self.root.open(rel) {
            Ok(found) => found,
            Err(e) => {
                if !matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory) {
                    log::debug!("greenloop: ServeDir: {}: {e}", rel.display());
                }
                None
            }
        }
    }

    /// Answers with `file` (at `rel` under the root), or a precompressed
    /// sibling of it, honouring conditions and ranges.
    fn send(&self, req: &Request, rel: &Path, file: File, meta: Metadata) -> Response {
        let headers = req.headers();
        let content_type = content_type(rel);
        let wants_range = headers.contains_key(header::RANGE);
        let mut chosen = (file, meta, None);
        let mut vary = false;
        if self.precompressed && !wants_range {
            let accepted = Accepted::from_headers(headers);
            let mut offered = [Coding::Br, Coding::Gzip];
            if accepted.q(Coding::Gzip) > accepted.q(Coding::Br) {
                offered.swap(0, 1);
            }
            for coding in offered.into_iter().filter(|&c| accepted.q(c) > 0) {
                let ext = if coding == Coding::Br { "br" } else { "gz" };
                let mut sibling = rel.as_os_str().to_owned();
                sibling.push(".");
                sibling.push(ext);
                if let Some((f, m)) = self.open(Path::new(&sibling)).filter(|(_, m)| m.is_file()) {
                    chosen = (f, m, Some(coding));
                    vary = true;
                    break;
                }
            }
        }
        let (file, meta, coding) = chosen;
        let validators = Validators::of(&meta, coding.map(Coding::token));
        let mut res = if validators.not_modified(headers) {
            let mut r = Response::new(ResponseBody::empty());
            *r.status_mut() = StatusCode::NOT_MODIFIED;
            r
        } else {
            let len = meta.len();
            let ask = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
                Some(v) if validators.range_applies(headers) => range::parse(v, len),
                _ => RangeAsk::Whole,
            };
            match ask {
                RangeAsk::Whole => {
                    let mut r = Response::new(ResponseBody::file(file, 0..len));
                    r.headers_mut().insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
                    r
                }
                RangeAsk::Part { start, end } => {
                    let mut r = Response::new(ResponseBody::file(file, start..end));
                    *r.status_mut() = StatusCode::PARTIAL_CONTENT;
                    let range = format!("bytes {start}-{}/{len}", end - 1);
                    r.headers_mut().insert(header::CONTENT_RANGE, value(range));
                    r
                }
                RangeAsk::Unsatisfiable => {
                    let mut r = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
                    r.headers_mut().insert(header::CONTENT_RANGE, value(format!("bytes */{len}")));
                    return r;
                }
            }
        };
        let h = res.headers_mut();
        h.insert(header::CONTENT_TYPE, content_type);
        h.insert(header::ETAG, value(validators.etag.clone()));
        if let Some(date) = validators.last_modified() {
            h.insert(header::LAST_MODIFIED, value(date));
        }
        if let Some(c) = coding {
            h.insert(header::CONTENT_ENCODING, HeaderValue::from_static(c.token()));
        }
        if vary {
            h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
        }
        res
    }
}

impl Handler for ServeDir {
    fn call(&self, req: Request) -> Response {
        self.answer(&req)
    }
}

/// `Content-Type` from the extension; text types say UTF-8.
fn content_type(path: &Path) -> HeaderValue {
    let mime = mime_guess::from_path(path).first_or_octet_stream();
    let text = mime.type_() == mime_guess::mime::TEXT
        || mime.subtype() == mime_guess::mime::JAVASCRIPT
        || mime.subtype() == mime_guess::mime::JSON;
    let s = if text && mime.get_param(mime_guess::mime::CHARSET).is_none() {
        format!("{mime}; charset=utf-8")
    } else {
        mime.to_string()
    };
    value(s)
}

fn value(s: String) -> HeaderValue {
    HeaderValue::try_from(s).unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"))
}

fn not_found() -> Response {
    StatusCode::NOT_FOUND.into_response()
}

/// `301` to the same path with a trailing slash (the query kept).
fn redirect_to_dir(req: &Request) -> Response {
    let mut location = format!("{}/", req.path());
    if let Some(q) = req.query_string() {
        location.push('?');
        location.push_str(q);
    }
    let mut r = StatusCode::MOVED_PERMANENTLY.into_response();
    r.headers_mut().insert(header::LOCATION, value(location));
    r
}
