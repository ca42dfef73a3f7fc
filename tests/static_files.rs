//! `ServeDir` behind the demo's `GET /static/{*path}` (`--static DIR`),
//! against curl, Python's http.client and a raw socket: types, validators
//! and 304s, ranges, directories, precompressed siblings, every way out of
//! the root, and the sendfile path under a slow reader, pipelining and a
//! client that leaves mid-file.

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use support::demo::Demo;
use support::raw::RawClient;

/// A fresh directory tree for one test: `root/` is served, `outside.txt`
/// sits beside it (what traversal attempts aim at).
struct Tree {
    base: PathBuf,
}

impl Tree {
    fn new(name: &str) -> Tree {
        let base = std::env::temp_dir().join(format!("greenloop-static-test-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(base.join("root/docs")).unwrap();
        std::fs::create_dir_all(base.join("root/empty")).unwrap();
        std::fs::write(base.join("outside.txt"), "secret outside the root\n").unwrap();
        std::fs::write(base.join("root/hello.txt"), "Hello, static world!\n").unwrap();
        std::fs::write(base.join("root/docs/index.html"), "<h1>docs index</h1>\n").unwrap();
        Tree { base }
    }

    fn root(&self) -> PathBuf {
        self.base.join("root")
    }

    fn write(&self, rel: &str, bytes: &[u8]) -> PathBuf {
        let p = self.root().join(rel);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    fn serve(&self) -> Demo {
        Demo::start(&["--quiet", "--workers", "1", "--static", self.root().to_str().unwrap()])
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.base);
    }
}

/// Runs a Python script with the server's port as `sys.argv[1]`; it fails
/// the test with its stderr when an assertion in it fails. Returns stdout.
fn python(script: &str, demo: &Demo) -> String {
    let out = Command::new("python3")
        .args(["-c", script, &demo.addr().port().to_string()])
        .output()
        .expect("python3 (needed by these tests)");
    assert!(out.status.success(), "python failed:\n{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// curl with `args`: (stdout bytes, stderr text).
fn curl(args: &[&str]) -> (Vec<u8>, String) {
    let out = Command::new("curl").args(["-s", "--max-time", "30"]).args(args).output().expect("curl");
    (out.stdout, String::from_utf8_lossy(&out.stderr).into_owned())
}

fn pseudo_random(n: usize) -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn sha256(bytes: &[u8]) -> String {
    let mut child = Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("sha256sum");
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap_or("").to_owned()
}

#[test]
fn files_come_with_types_validators_304s_and_ranges() {
    let tree = Tree::new("validators");
    let demo = tree.serve();
    python(
        r#"
import http.client, sys
port = int(sys.argv[1])
def req(method, path, headers={}):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request(method, path, headers=headers)
    r = c.getresponse()
    body = r.read()
    c.close()
    return r, body

body = b"Hello, static world!\n"
r, b = req("GET", "/static/hello.txt")
assert r.status == 200 and b == body, (r.status, b)
assert r.getheader("Content-Type") == "text/plain; charset=utf-8", r.getheader("Content-Type")
assert r.getheader("Content-Length") == str(len(body))
assert r.getheader("Accept-Ranges") == "bytes"
etag, modified = r.getheader("ETag"), r.getheader("Last-Modified")
assert etag.startswith('"') and etag.endswith('"'), etag
assert modified.endswith(" GMT"), modified

r, b = req("GET", "/static/hello.txt", {"If-None-Match": etag})
assert r.status == 304 and b == b"" and r.getheader("ETag") == etag, (r.status, b)
r, b = req("GET", "/static/hello.txt", {"If-None-Match": '"other", W/' + etag})
assert r.status == 304, r.status
r, b = req("GET", "/static/hello.txt", {"If-None-Match": '"other"', "If-Modified-Since": modified})
assert r.status == 200, "If-None-Match wins over If-Modified-Since"
r, b = req("GET", "/static/hello.txt", {"If-Modified-Since": modified})
assert r.status == 304, r.status
r, b = req("GET", "/static/hello.txt", {"If-Modified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"})
assert r.status == 200 and b == body

r, b = req("GET", "/static/hello.txt", {"Range": "bytes=7-12"})
assert r.status == 206 and b == body[7:13], (r.status, b)
assert r.getheader("Content-Range") == "bytes 7-12/%d" % len(body), r.getheader("Content-Range")
r, b = req("GET", "/static/hello.txt", {"Range": "bytes=-7"})
assert r.status == 206 and b == body[-7:], (r.status, b)
r, b = req("GET", "/static/hello.txt", {"Range": "bytes=14-"})
assert r.status == 206 and b == body[14:]
r, b = req("GET", "/static/hello.txt", {"Range": "bytes=%d-" % len(body)})
assert r.status == 416 and r.getheader("Content-Range") == "bytes */%d" % len(body), r.status
r, b = req("GET", "/static/hello.txt", {"Range": "bytes=0-1,4-5"})
assert r.status == 200 and b == body, "several ranges: the whole file"
r, b = req("GET", "/static/hello.txt", {"Range": "bytes=0-1", "If-Range": '"stale"'})
assert r.status == 200 and b == body, "a stale If-Range: the whole file"
r, b = req("GET", "/static/hello.txt", {"Range": "bytes=0-1", "If-Range": etag})
assert r.status == 206 and b == body[:2]

r, b = req("HEAD", "/static/hello.txt")
assert r.status == 200 and b == b"" and r.getheader("Content-Length") == str(len(body))
r, b = req("POST", "/static/hello.txt")
assert r.status == 405, r.status
r, b = req("GET", "/static/missing.txt")
assert r.status == 404, r.status
"#,
        &demo,
    );
}

#[test]
fn curl_reads_ranges_heads_and_if_modified_since() {
    let tree = Tree::new("curl");
    let big = pseudo_random(200_000);
    tree.write("blob.bin", &big);
    let demo = tree.serve();
    let url = demo.url("/static/blob.bin");
    let (part, _) = curl(&["-r", "1000-1999", &url]);
    assert_eq!(part, &big[1000..2000]);
    let (head, _) = curl(&["-I", &url]);
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(
        head.contains("content-length: 200000") && head.contains("content-type: application/octet-stream"),
        "{head}"
    );
    // -z with a file: If-Modified-Since its mtime (the blob's own, so: not modified).
    let (code, _) =
        curl(&["-o", "/dev/null", "-w", "%{http_code}", "-z", tree.root().join("blob.bin").to_str().unwrap(), &url]);
    assert_eq!(code, b"304");
    let (code, _) = curl(&["-o", "/dev/null", "-w", "%{http_code}", "-z", "Jan 1 2001", &url]);
    assert_eq!(code, b"200");
    let (whole, _) = curl(&[&url]);
    assert_eq!(sha256(&whole), sha256(&big));
}

#[test]
fn directories_answer_with_their_index_after_a_slash_redirect() {
    let tree = Tree::new("dirs");
    let demo = tree.serve();
    let (out, _) = curl(&["-D", "-", "-o", "/dev/null", &demo.url("/static/docs?x=1")]);
    let head = String::from_utf8_lossy(&out).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 301"), "{head}");
    assert!(head.contains("location: /static/docs/?x=1"), "{head}");
    let (page, _) = curl(&["-L", &demo.url("/static/docs")]);
    assert_eq!(page, b"<h1>docs index</h1>\n");
    let (code, _) = curl(&["-o", "/dev/null", "-w", "%{http_code}", &demo.url("/static/empty/")]);
    assert_eq!(code, b"404", "a directory without index.html is not listed");
}

#[test]
fn every_way_out_of_the_root_is_a_404() {
    let tree = Tree::new("traversal");
    std::os::unix::fs::symlink(tree.base.join("outside.txt"), tree.root().join("leak.txt")).unwrap();
    std::os::unix::fs::symlink("/etc", tree.root().join("etc")).unwrap();
    std::os::unix::fs::symlink(tree.root().join("hello.txt"), tree.root().join("alias.txt")).unwrap();
    let fifo = tree.root().join("pipe.txt");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let demo = tree.serve();
    let code = |path: &str| {
        let (c, _) = curl(&["--path-as-is", "-o", "/dev/null", "-w", "%{http_code}", &demo.url(path)]);
        String::from_utf8_lossy(&c).into_owned()
    };
    for path in [
        "/static/../Cargo.toml",
        "/static/../../outside.txt",
        "/static/docs/../../outside.txt",
        "/static/%2e%2e/outside.txt",
        "/static/%2E%2E/%2e%2e/etc/passwd",
        "/static/..%2foutside.txt",
        "/static/docs%2F..%2F..%2Foutside.txt",
        "/static/..%5coutside.txt",
        "/static/hello.txt%00.png",
        "/static/leak.txt",
        "/static/etc/passwd",
        "/static/./hello.txt",
    ] {
        assert_eq!(code(path), "404", "{path}");
    }
    // Raw bytes too (curl would normalise nothing here, but be sure).
    let (status, _) = support::raw::request(
        demo.addr(),
        "GET /static/%2e%2e/outside.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status, 404);
    // A FIFO in the tree answers at once, instead of an open waiting for a writer.
    let started = Instant::now();
    assert_eq!(code("/static/pipe.txt"), "404");
    assert!(started.elapsed() < Duration::from_secs(5));
    // A link that stays inside the root is followed.
    assert_eq!(code("/static/alias.txt"), "200");
    assert_eq!(code("/static/hello.txt"), "200");
}

#[test]
fn precompressed_siblings_go_to_clients_that_accept_them() {
    let tree = Tree::new("precompressed");
    let js = "console.log('greenloop');\n".repeat(200);
    tree.write("app.js", js.as_bytes());
    tree.write("app.js.br", b"BROTLI-BYTES");
    tree.write("app.js.gz", b"GZIP-BYTES");
    tree.write("only.css", b"body{}");
    tree.write("only.css.gz", b"GZ-CSS");
    let demo = tree.serve();
    python(
        r#"
import http.client, sys
port = int(sys.argv[1])
def req(headers):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("GET", "/static/app.js", headers=headers)
    r = c.getresponse()
    return r, r.read()
r, b = req({"Accept-Encoding": "gzip, br"})
assert b == b"BROTLI-BYTES", b[:40]
assert r.getheader("Content-Encoding") == "br" and r.getheader("Vary") == "accept-encoding"
assert r.getheader("Content-Type") == "text/javascript; charset=utf-8", r.getheader("Content-Type")
br_tag = r.getheader("ETag")
r, b = req({"Accept-Encoding": "gzip, br;q=0.5"})
assert b == b"GZIP-BYTES" and r.getheader("Content-Encoding") == "gzip"
assert r.getheader("ETag") != br_tag, "each variant has its own tag"
r, b = req({"Accept-Encoding": "br;q=0, gzip;q=0"})
assert r.getheader("Content-Encoding") is None and b.startswith(b"console.log"), "both refused: identity"
r, b = req({"Accept-Encoding": "identity"})
assert r.getheader("Content-Encoding") is None and len(b) == len("console.log('greenloop');\n") * 200
r, b = req({"Accept-Encoding": "br", "Range": "bytes=0-6"})
assert r.status == 206 and b == b"console" and r.getheader("Content-Encoding") is None, "ranges address the file itself"
r, b = req({"Accept-Encoding": "br", "If-None-Match": br_tag})
assert r.status == 304, r.status
c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
c.request("GET", "/static/only.css", headers={"Accept-Encoding": "br, gzip;q=0.9"})
r = c.getresponse()
assert r.read() == b"GZ-CSS" and r.getheader("Content-Encoding") == "gzip", "the sibling that exists"
"#,
        &demo,
    );
    // curl --compressed asks for what it can decode and gets the sibling, encoded.
    let (out, _) = curl(&["-D", "-", "-o", "/dev/null", "-H", "Accept-Encoding: br", &demo.url("/static/app.js")]);
    assert!(String::from_utf8_lossy(&out).to_ascii_lowercase().contains("content-encoding: br"));
}

#[test]
fn a_large_file_reaches_a_slow_reader_intact_while_the_worker_stays_fast() {
    let tree = Tree::new("slow");
    let big = pseudo_random(5 * 1024 * 1024);
    tree.write("big.bin", &big);
    let demo = tree.serve();
    let addr = demo.addr();
    let reader = std::thread::spawn(move || {
        let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        // A small receive window: the server's sendfile fills it at once and parks.
        s.set_recv_buffer_size(32 * 1024).unwrap();
        s.connect(&addr.into()).unwrap();
        let mut s: TcpStream = s.into();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        s.write_all(b"GET /static/big.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
        let mut all = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        let started = Instant::now();
        loop {
            let n = s.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            all.extend_from_slice(&buf[..n]);
            // About 2 s for the whole file: a slow client.
            std::thread::sleep(Duration::from_millis(20));
        }
        (all, started.elapsed())
    });
    // Meanwhile the same (only) worker answers other requests quickly.
    let mut slowest = Duration::ZERO;
    while !reader.is_finished() {
        let (status, body, took) = demo.get_timed("/plaintext");
        assert_eq!((status, body.as_str()), (200, "Hello, World!"));
        slowest = slowest.max(took);
        std::thread::sleep(Duration::from_millis(50));
    }
    let (all, took) = reader.join().unwrap();
    let split = all.windows(4).position(|w| w == b"\r\n\r\n").expect("a head") + 4;
    let head = String::from_utf8_lossy(&all[..split]);
    assert!(head.contains("Content-Length: 5242880"), "{head}");
    assert_eq!(sha256(&all[split..]), sha256(&big), "the 5 MiB body arrived intact");
    assert!(took > Duration::from_millis(500), "the reader was slow ({took:?}): the server had to park");
    assert!(slowest < Duration::from_millis(500), "a small request took {slowest:?} during the download");
}

#[test]
fn pipelined_requests_mixing_files_and_small_answers_arrive_in_order() {
    let tree = Tree::new("pipelined");
    let big = pseudo_random(300_000);
    tree.write("big.bin", &big);
    let demo = tree.serve();
    let mut c = RawClient::connect(demo.addr());
    let mut batch = String::new();
    for path in ["/plaintext", "/static/big.bin", "/static/hello.txt", "/plaintext", "/static/big.bin", "/json"] {
        batch.push_str(&format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n"));
    }
    batch.push_str("GET /static/big.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=1000-1999\r\n\r\n");
    batch.push_str("HEAD /static/big.bin HTTP/1.1\r\nHost: x\r\n\r\n");
    batch.push_str("GET /plaintext HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    c.send(batch);
    let r = c.response();
    assert_eq!((r.status, r.text()), (200, "Hello, World!".into()));
    let r = c.response();
    assert!(r.status == 200 && r.body == big, "first file");
    let r = c.response();
    assert_eq!(r.text(), "Hello, static world!\n");
    assert_eq!(c.response().text(), "Hello, World!");
    assert!(c.response().body == big, "second file");
    assert!(c.response().text().contains("Hello, World!"), "json");
    let r = c.response();
    assert_eq!((r.status, &r.body[..]), (206, &big[1000..2000]));
    let r = c.head_response();
    assert_eq!((r.status, r.header("content-length")), (200, Some("300000")));
    assert_eq!(c.response().text(), "Hello, World!");
    c.expect_closed();
}

/// Descriptors the server process holds open.
fn open_fds(demo: &Demo) -> usize {
    std::fs::read_dir(format!("/proc/{}/fd", demo.child.id())).unwrap().count()
}

#[test]
fn a_client_that_leaves_mid_file_leaks_no_descriptor() {
    let tree = Tree::new("leave");
    tree.write("big.bin", &pseudo_random(5 * 1024 * 1024));
    let demo = tree.serve();
    assert_eq!(demo.get("/plaintext").0, 200);
    let baseline = open_fds(&demo);
    for _ in 0..20 {
        let mut s = TcpStream::connect(demo.addr()).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        s.write_all(b"GET /static/big.bin HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut buf = vec![0u8; 100 * 1024];
        s.read_exact(&mut buf).unwrap();
        // Gone with megabytes left to send.
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut now = open_fds(&demo);
    while now > baseline && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        now = open_fds(&demo);
    }
    assert!(now <= baseline, "{now} descriptors open, {baseline} before the clients left");
    assert_eq!(demo.get("/plaintext").0, 200);
}

#[cfg(feature = "tls")]
#[test]
fn over_tls_a_file_is_read_and_written() {
    let certs = support::certs::TestCerts::new();
    let tree = Tree::new("tls");
    let big = pseudo_random(1024 * 1024);
    tree.write("big.bin", &big);
    let demo = Demo::start(&[
        "--quiet",
        "--static",
        tree.root().to_str().unwrap(),
        "--tls-cert",
        certs.cert_path.to_str().unwrap(),
        "--tls-key",
        certs.key_path.to_str().unwrap(),
    ]);
    let url = format!("https://localhost:{}/static/big.bin", demo.addr().port());
    let resolve = format!("localhost:{}:127.0.0.1", demo.addr().port());
    let ca = certs.ca_path.to_str().unwrap();
    let (body, err) = curl(&["--cacert", ca, "--resolve", &resolve, &url]);
    assert_eq!(sha256(&body), sha256(&big), "{err}");
    let (part, _) = curl(&["--cacert", ca, "--resolve", &resolve, "-r", "10-19", &url]);
    assert_eq!(part, &big[10..20]);
}

#[test]
fn small_and_empty_files_arrive_at_once() {
    let tree = Tree::new("small");
    tree.write("one.txt", b"1");
    tree.write("empty.txt", b"");
    let demo = tree.serve();
    let mut c = RawClient::connect(demo.addr());
    let started = Instant::now();
    for _ in 0..20 {
        // The head is sent saying more follows; the body must push it out
        // (a held-back head would cost 200 ms a request here).
        c.send("GET /static/one.txt HTTP/1.1\r\nHost: x\r\n\r\n");
        let r = c.response();
        assert_eq!((r.status, r.text()), (200, "1".into()));
        c.send("GET /static/empty.txt HTTP/1.1\r\nHost: x\r\n\r\n");
        let r = c.response();
        assert_eq!((r.status, r.header("content-length"), r.body.len()), (200, Some("0"), 0));
    }
    let took = started.elapsed();
    assert!(took < Duration::from_secs(2), "40 small answers took {took:?}");
}

#[test]
fn the_demo_serves_its_built_in_files_without_static() {
    let demo = Demo::start(&["--quiet"]);
    let (page, _) = curl(&["-L", &demo.url("/static/")]);
    let page = String::from_utf8_lossy(&page);
    assert!(page.contains("<h1>Static files</h1>") && page.contains("app.js"), "{page}");
    let (head, _) = curl(&["-I", &demo.url("/static/style.css")]);
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200") && head.contains("content-type: text/css; charset=utf-8"), "{head}");
    // Restarted, the files are the same ones: their validators hold.
    let tag = |demo: &Demo| {
        let (head, _) = curl(&["-I", &demo.url("/static/app.js")]);
        let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
        head.lines().find(|l| l.starts_with("etag:")).map(str::to_owned).expect("an etag")
    };
    let before = tag(&demo);
    drop(demo);
    assert_eq!(tag(&Demo::start(&["--quiet"])), before);
}

#[test]
fn over_a_unix_socket_a_file_goes_out_with_sendfile_too() {
    let tree = Tree::new("unix");
    let big = pseudo_random(700_000);
    tree.write("big.bin", &big);
    let sock = tree.base.join("demo.sock");
    let _demo = Demo::spawn(&["--quiet", "--unix", sock.to_str().unwrap(), "--static", tree.root().to_str().unwrap()]);
    let (body, err) = curl(&["--unix-socket", sock.to_str().unwrap(), "http://demo/static/big.bin"]);
    assert_eq!(sha256(&body), sha256(&big), "{err}");
    let (part, _) = curl(&["--unix-socket", sock.to_str().unwrap(), "-r", "-5", "http://demo/static/big.bin"]);
    assert_eq!(part, &big[big.len() - 5..]);
}
