//! The `Compression` middleware on the demo (on by default), decoded by
//! real clients: Python's gzip, brotli and zstandard modules (the last two
//! pip-installed when missing) and curl `--compressed`. Small bodies
//! compressed at once keep a `Content-Length`; large ones and files stream
//! chunked; what must stay identity does; a 10 MiB body does not hold the
//! one worker.

mod support;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use support::demo::Demo;

/// A served directory with text, JSON-lines and binary files.
struct Files {
    root: PathBuf,
}

impl Files {
    fn new(name: &str) -> Files {
        let root = std::env::temp_dir().join(format!("greenloop-compression-test-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        let lines: String = (0..6000).map(|i| format!("{{\"id\":{i},\"name\":\"user {i}\",\"ok\":true}}\n")).collect();
        std::fs::write(root.join("rows.txt"), &lines).unwrap();
        std::fs::write(root.join("picture.png"), vec![7u8; 8000]).unwrap();
        std::fs::write(root.join("pre.js"), "x".repeat(5000)).unwrap();
        std::fs::write(root.join("pre.js.gz"), b"ALREADY-GZIP").unwrap();
        Files { root }
    }

    fn serve(&self, extra: &[&str]) -> Demo {
        let mut args = vec!["--quiet", "--workers", "1", "--static", self.root.to_str().unwrap()];
        args.extend_from_slice(extra);
        Demo::start(&args)
    }
}

impl Drop for Files {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

/// Runs a Python script with the port as `sys.argv[1]`; fails the test with
/// its stderr if the script fails.
fn python(script: &str, demo: &Demo) -> String {
    support::python::python_has("brotli", "brotli");
    support::python::python_has("zstandard", "zstandard");
    let out = Command::new("python3")
        .args(["-c", &format!("{PRELUDE}{script}"), &demo.addr().port().to_string()])
        .output()
        .expect("python3 (needed by these tests)");
    assert!(out.status.success(), "python failed:\n{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A request helper and the three decoders.
const PRELUDE: &str = r#"
import http.client, sys, gzip, brotli, zstandard, io
port = int(sys.argv[1])
def req(path, headers={}, method="GET"):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    c.request(method, path, headers=headers)
    r = c.getresponse()
    body = r.read()
    c.close()
    return r, body
def decode(coding, data):
    if coding == "gzip":
        return gzip.decompress(data)
    if coding == "br":
        return brotli.decompress(data)
    if coding == "zstd":
        return zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data)).read()
    assert coding is None, coding
    return data
"#;

fn curl(args: &[&str]) -> Vec<u8> {
    Command::new("curl").args(["-s", "--max-time", "60"]).args(args).output().expect("curl").stdout
}

#[test]
fn each_coding_decodes_to_the_identity_body() {
    let files = Files::new("decode");
    let demo = files.serve(&[]);
    python(
        r#"
for path, streamed in [("/", False), ("/static/rows.txt", True)]:
    r, plain = req(path, {"Accept-Encoding": "identity"})
    assert r.status == 200 and r.getheader("Content-Encoding") is None and len(plain) > 4000, (path, r.status)
    assert r.getheader("Vary") == "accept-encoding", path
    for coding in ["gzip", "br", "zstd"]:
        r, body = req(path, {"Accept-Encoding": coding})
        assert r.getheader("Content-Encoding") == coding, (path, coding, r.getheader("Content-Encoding"))
        assert r.getheader("Vary") == "accept-encoding"
        assert decode(coding, body) == plain, (path, coding)
        assert len(body) < len(plain) * 0.6, (path, coding, len(body), len(plain))
        if streamed:
            assert r.getheader("Transfer-Encoding") == "chunked" and r.getheader("Content-Length") is None
            assert r.getheader("Accept-Ranges") is None
            assert r.getheader("ETag").startswith('W/"'), r.getheader("ETag")
        else:
            assert r.getheader("Content-Length") == str(len(body)), "small bodies keep a length"
"#,
        &demo,
    );
}

#[test]
fn accept_encoding_weights_choose_the_coding() {
    let files = Files::new("weights");
    let demo = files.serve(&[]);
    python(
        r#"
cases = [
    ("gzip;q=0.5, br;q=0.8", "br"),
    ("br;q=0, gzip", "gzip"),
    ("gzip, deflate, br, zstd", "zstd"),
    ("*", "zstd"),
    ("*;q=0.1, gzip", "gzip"),
    ("zstd;q=0, *;q=0.5", "br"),
    ("identity", None),
    ("gzip;q=0", None),
    ("*;q=0", None),
    ("deflate", None),
]
for accept, want in cases:
    r, body = req("/", {"Accept-Encoding": accept})
    assert r.getheader("Content-Encoding") == want, (accept, r.getheader("Content-Encoding"), want)
    assert decode(want, body).startswith(b"<!doctype html>"), accept
r, body = req("/")
assert r.getheader("Content-Encoding") is None and body.startswith(b"<!doctype html>"), "no Accept-Encoding: identity"
"#,
        &demo,
    );
}

#[test]
fn what_must_stay_identity_does() {
    let files = Files::new("skips");
    let demo = files.serve(&[]);
    python(
        r#"
all_ = {"Accept-Encoding": "gzip, br, zstd"}
r, body = req("/plaintext", all_)
assert r.getheader("Content-Encoding") is None and body == b"Hello, World!", "small bodies"
r, body = req("/", all_, method="HEAD")
assert r.getheader("Content-Encoding") is None and r.getheader("Content-Length") is not None, "HEAD"
r, body = req("/static/picture.png", all_)
assert r.getheader("Content-Encoding") is None and body == bytes([7]) * 8000, "images"
r, body = req("/static/rows.txt", dict(all_, Range="bytes=0-9"))
assert r.status == 206 and r.getheader("Content-Encoding") is None and body == b'{"id":0,"n', "ranges"
r, body = req("/static/rows.txt", all_)
tag = r.getheader("ETag")
r, body = req("/static/rows.txt", dict(all_, **{"If-None-Match": tag}))
assert r.status == 304 and body == b"" and r.getheader("Content-Encoding") is None, "304"
r, body = req("/static/pre.js", {"Accept-Encoding": "gzip"})
assert body == b"ALREADY-GZIP" and r.getheader("Content-Encoding") == "gzip", "already encoded: not again"
"#,
        &demo,
    );
    let off = files.serve(&["--no-compression"]);
    python(
        r#"
r, body = req("/static/rows.txt", {"Accept-Encoding": "gzip, br, zstd"})
assert r.getheader("Content-Encoding") is None and r.getheader("Vary") is None, "--no-compression"
"#,
        &off,
    );
}

#[test]
fn curl_compressed_decodes_every_coding() {
    let files = Files::new("curl");
    let demo = files.serve(&[]);
    let url = demo.url("/static/rows.txt");
    let plain = std::fs::read(files.root.join("rows.txt")).unwrap();
    for coding in ["gzip", "br", "zstd"] {
        let head = curl(&["-D", "-", "-o", "/dev/null", "-H", &format!("Accept-Encoding: {coding}"), &url]);
        let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
        assert!(head.contains(&format!("content-encoding: {coding}")), "{head}");
        let body = curl(&["--compressed", "-H", &format!("Accept-Encoding: {coding}"), &url]);
        assert!(body == plain, "{coding}: curl decoded {} bytes, want {}", body.len(), plain.len());
    }
}

#[test]
fn a_10_mib_body_compresses_without_holding_the_one_worker() {
    let files = Files::new("large");
    // JSON rows with varied values: compressible, but not one repeated line
    // (which every encoder would fly through).
    let mut big = String::with_capacity(10 * 1024 * 1024 + 100);
    let mut x: u64 = 0x2545_F491_4F6C_DD1D;
    while big.len() < 10 * 1024 * 1024 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        big.push_str(&format!("{{\"id\":{},\"name\":\"user{}\",\"score\":{}}}\n", x % 1_000_000, x >> 44, x % 977));
    }
    std::fs::write(files.root.join("big.txt"), &big).unwrap();
    for coding in ["gzip", "br", "zstd"] {
        // A server per coding, so each one's watchdog reports are its own.
        let demo = files.serve(&[]);
        let url = demo.url("/static/big.txt");
        let header = format!("Accept-Encoding: {coding}");
        let download = std::thread::spawn(move || curl(&["--compressed", "-H", &header, &url]));
        let mut slowest = Duration::ZERO;
        let mut probes = 0;
        while !download.is_finished() {
            let (status, _, took) = demo.get_timed("/plaintext");
            assert_eq!(status, 200);
            slowest = slowest.max(took);
            probes += 1;
            std::thread::sleep(Duration::from_millis(5));
        }
        let body = download.join().unwrap();
        assert!(body.len() == big.len() && body == big.as_bytes(), "{coding}: {} bytes decoded", body.len());
        assert!(slowest < Duration::from_millis(250), "{coding}: a small request took {slowest:?} ({probes} probes)");
        // Brotli's encoder is generic, so it is compiled into greenloop's own
        // code, unoptimised in a debug build: there it runs some 20 times
        // slower than released, and single steps of it pass the watchdog's
        // 20 ms. The release build is checked (docs/PERFORMANCE.md).
        if coding == "br" && cfg!(debug_assertions) {
            continue;
        }
        let started = Instant::now();
        let held = demo.wait_for_line("held the loop", Duration::from_millis(300));
        assert!(held.is_none(), "{coding}: the watchdog saw the loop held: {held:?} ({:?})", started.elapsed());
    }
}
