//! `multipart/form-data` uploads against Python's `requests` (`files=...`),
//! curl and hand-made bodies: parts arrive intact (a 5 MiB file included),
//! limits answer 413 with the limit named, malformed bodies 400 with why.

use std::io::Read;
use std::process::Command;

use greenloop::http::multipart::Multipart;
use greenloop::http::{Json, Rejection, Request, Router, RunningServer, Server, TypedRequest, post};
use serde::{Deserialize, Serialize};
use sha2::Digest;

mod support;
use support::python;

/// Limits from the query string: `/upload?part=N&parts=N&total=N`.
#[derive(Deserialize)]
struct Limits {
    part: Option<u64>,
    parts: Option<usize>,
    total: Option<u64>,
}

#[derive(Serialize)]
struct Summary {
    name: String,
    filename: Option<String>,
    size: u64,
    sha256: String,
}

fn upload(mut req: Request) -> Result<Json<Vec<Summary>>, Rejection> {
    let limits: Limits = req.query_as()?;
    let mut form = Multipart::from_request(&mut req)?;
    if let Some(n) = limits.part {
        form = form.max_part_bytes(n);
    }
    if let Some(n) = limits.parts {
        form = form.max_parts(n);
    }
    if let Some(n) = limits.total {
        form = form.max_total_bytes(n);
    }
    let mut out = Vec::new();
    while let Some(mut part) = form.next_part()? {
        let mut hash = sha2::Sha256::new();
        let mut size = 0;
        let mut buf = [0u8; 32 * 1024];
        loop {
            let n = part.read(&mut buf)?;
            if n == 0 {
                break;
            }
            hash.update(&buf[..n]);
            size += n as u64;
        }
        let sha256 = hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
        out.push(Summary { name: part.name().into(), filename: part.filename().map(Into::into), size, sha256 });
    }
    Ok(Json(out))
}

fn server() -> RunningServer {
    let router = Router::new().route("/upload", post(upload));
    Server::bind("127.0.0.1:0").handle_signals(false).start(router).expect("server starts")
}

fn port(s: &RunningServer) -> String {
    s.local_addr().unwrap().port().to_string()
}

/// Sends fields `title` and `note`, a 5 MiB random file and a small text
/// file with `requests`; prints the status, then `intact` when every part's
/// size and SHA-256 match what was sent, else the answer.
const UPLOAD: &str = r#"
import hashlib, json, os, sys, requests
big = os.urandom(5 * 1024 * 1024)
small = "héllo\r\n--not a boundary\r\n".encode()
r = requests.post(f"http://127.0.0.1:{sys.argv[1]}/upload{sys.argv[2]}",
                  data={"title": "report", "note": ""},
                  files={"big": ("big.bin", big, "application/octet-stream"), "small": ("s.txt", small, "text/plain")},
                  timeout=60)
print(r.status_code)
if r.status_code != 200:
    print(r.text.strip()); sys.exit(0)
want = [("title", None, b"report"), ("note", None, b""), ("big", "big.bin", big), ("small", "s.txt", small)]
got = [(p["name"], p["filename"], p["size"], p["sha256"]) for p in r.json()]
exp = [(n, f, len(b), hashlib.sha256(b).hexdigest()) for n, f, b in want]
print("intact" if got == exp else json.dumps([got, exp]))
"#;

#[test]
fn a_five_mib_file_and_fields_from_python_requests_arrive_intact() {
    python::python_has_requests();
    let s = server();
    let out = python::run(UPLOAD, &[&port(&s), ""]);
    assert_eq!(out, "200\nintact\n");
}

#[test]
fn a_part_over_its_limit_is_413_naming_the_part() {
    python::python_has_requests();
    let s = server();
    // 64 KiB short of the file: the rest of the body is small enough to be
    // skipped after the answer, so the client reads the 413.
    let limit = (5 << 20) - (64 << 10);
    let out = python::run(UPLOAD, &[&port(&s), &format!("?part={limit}")]);
    assert_eq!(out, format!("413\nmultipart part `big` larger than the {limit}-byte limit\n"));
}

#[test]
fn more_parts_than_allowed_is_413() {
    python::python_has_requests();
    let s = server();
    let out = python::run(UPLOAD, &[&port(&s), "?parts=3"]);
    assert_eq!(out, "413\nmore than the 3 parts allowed in this form\n");
}

/// `curl -s -w CODE` with `args`: (status, body).
fn curl(args: &[&str]) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-s", "--max-time", "30", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .expect("run curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').expect("a status code");
    (code.parse().unwrap_or(0), body.to_string())
}

#[test]
fn a_body_declared_over_the_total_limit_is_413_before_it_is_sent() {
    let s = server();
    let dir = std::env::temp_dir().join(format!("greenloop-web-multipart-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("five.bin");
    std::fs::write(&file, vec![7u8; 5 << 20]).unwrap();
    let url = format!("http://127.0.0.1:{}/upload?total=1048576", port(&s));
    // curl asks `Expect: 100-continue` for a body this large: the 413
    // comes instead of the 100, and the file is never sent.
    let (status, body) = curl(&["-F", &format!("file=@{}", file.display()), &url]);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("over the 1048576-byte limit"), "{body}");
}

#[test]
fn malformed_multipart_is_400_or_415_with_the_reason() {
    let s = server();
    let url = format!("http://127.0.0.1:{}/upload", port(&s));
    let (status, body) = curl(&["-H", "content-type: multipart/form-data", "--data-binary", "x", &url]);
    assert_eq!((status, body.as_str()), (400, "multipart/form-data without a boundary parameter\n"));
    let (status, body) = curl(&["-H", "content-type: text/plain", "--data-binary", "x", &url]);
    assert_eq!(status, 415, "{body}");
    let (status, body) = curl(&[
        "-H",
        "content-type: multipart/form-data; boundary=b0undary",
        "--data-binary",
        "no boundary here",
        &url,
    ]);
    assert_eq!((status, body.as_str()), (400, "multipart body has no boundary line\n"));
}

#[test]
fn a_truncated_upload_from_python_http_client_is_400() {
    let s = server();
    let script = r#"
import http.client, sys
whole = (b"--XyZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a\"\r\n\r\n" + b"d" * 100000
         + b"\r\n--XyZ--\r\n")
for body, name in [(whole[:50000], "cut in the content"), (whole[:30], "cut in the headers"),
                   (whole.replace(b"name=", b"nom="), "no name"), (whole, "whole")]:
    c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=30)
    c.request("POST", "/upload", body=body, headers={"Content-Type": "multipart/form-data; boundary=XyZ"})
    r = c.getresponse()
    print(name, r.status, r.read().decode().strip())
"#;
    let out = python::run(script, &[&port(&s)]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "cut in the content 400 multipart body cut short inside part `f` (no closing boundary)");
    assert_eq!(lines[1], "cut in the headers 400 multipart body cut short in the headers of part 1");
    assert_eq!(lines[2], "no name 400 multipart part 1 has no `Content-Disposition: form-data; name=...`");
    assert!(lines[3].starts_with("whole 200 [{\"name\":\"f\",\"filename\":\"a\",\"size\":100000,"), "{out}");
}
