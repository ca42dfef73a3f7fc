//! The demo's typed JSON, upload, CORS and request-id routes, run as a
//! user runs the binary, against curl and Python's `requests`.

use std::collections::HashSet;
use std::time::Duration;

mod support;
use support::curl::{curl, header};
use support::demo::Demo;
use support::python;

/// Creates 20 items on fresh connections, then reads each back on fresh
/// connections (any worker); prints one line per check.
const ITEMS: &str = r#"
import sys, requests
base = sys.argv[1]
made = []
for i in range(20):
    r = requests.post(base + "/api/items", json={"name": f"item {i}"}, headers={"Connection": "close"}, timeout=30)
    assert r.status_code == 201, (r.status_code, r.text)
    assert r.headers["Content-Type"] == "application/json"
    assert r.headers["Location"] == f"/api/items/{r.json()['id']}", r.headers
    made.append(r.json())
for item in made:
    r = requests.get(base + f"/api/items/{item['id']}", headers={"Connection": "close"}, timeout=30)
    assert r.status_code == 200 and r.json() == item, (r.status_code, r.text, item)
print("created and found", len(set(i["id"] for i in made)))
r = requests.get(base + "/api/items/999999999", timeout=30)
print(r.status_code, r.text.strip())
r = requests.get(base + "/api/items/first", timeout=30)
print(r.status_code, r.text.strip())
r = requests.post(base + "/api/items", json={"name": "   "}, timeout=30)
print(r.status_code, r.text.strip())
r = requests.post(base + "/api/items", json={"title": "x"}, timeout=30)
print(r.status_code, r.text.strip())
"#;

#[test]
fn items_are_created_and_found_across_workers() {
    python::python_has_requests();
    let demo = Demo::start(&["--workers", "2", "--quiet"]);
    let out = python::run(ITEMS, &[&demo.url("")]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "created and found 20");
    assert_eq!(lines[1], "404 no item 999999999");
    assert!(lines[2].starts_with("400 path parameter `id` (\"first\"): invalid digit"), "{out}");
    assert_eq!(lines[3], "422 name must be 1 to 200 characters");
    assert!(lines[4].starts_with("422 JSON body does not fit at line 1, column 14: missing field `name`"), "{out}");
}

#[test]
fn bad_json_and_wrong_content_types_are_told_apart() {
    let demo = Demo::start(&["--quiet"]);
    let url = demo.url("/api/items");
    let (status, _, body) = curl(&["-H", "content-type: application/json", "-d", "{\n\"name\": \"milk\"\n,}", &url]);
    assert_eq!((status, body.as_str()), (400, "invalid JSON body at line 3, column 2: trailing comma\n"));
    let (status, _, body) = curl(&["-d", "name=milk", &url]);
    assert_eq!(status, 415, "{body}");
    assert!(body.starts_with("expected Content-Type: application/json"), "{body}");
    // 3 MiB of JSON, over the 2 MiB default limit: refused from its
    // Content-Length (curl waits for `100 Continue` and gets the 413 instead).
    let file = std::env::temp_dir().join(format!("greenloop-web-demo-{}.json", std::process::id()));
    std::fs::write(&file, format!("{{\"name\":\"{}\"}}", "x".repeat(3 << 20))).unwrap();
    let data = format!("@{}", file.display());
    let (status, _, body) = curl(&["-H", "content-type: application/json", "--data-binary", &data, &url]);
    let _ = std::fs::remove_file(&file);
    assert_eq!((status, body.as_str()), (413, "request body larger than the 2097152-byte limit\n"));
}

/// A 5 MiB file and a field with `requests`; prints `intact` when the
/// demo's sizes and SHA-256 digests match.
const UPLOAD: &str = r#"
import hashlib, os, sys, requests
big = os.urandom(5 * 1024 * 1024)
r = requests.post(sys.argv[1] + "/upload", data={"title": "holiday"},
                  files={"photo": ("beach.jpg", big, "image/jpeg")}, timeout=60)
assert r.status_code == 200, (r.status_code, r.text)
parts = r.json()["parts"]
want = [{"name": "title", "filename": None, "content_type": None, "size": 7,
         "sha256": hashlib.sha256(b"holiday").hexdigest()},
        {"name": "photo", "filename": "beach.jpg", "content_type": "image/jpeg", "size": len(big),
         "sha256": hashlib.sha256(big).hexdigest()}]
print("intact" if parts == want else (parts, want))
r = requests.post(sys.argv[1] + "/upload", data=b"--x\r\n", headers={"Content-Type": "multipart/form-data; boundary=x"}, timeout=30)
print(r.status_code, r.text.strip())
"#;

#[test]
fn uploads_list_each_part_with_its_size_and_sha256() {
    python::python_has_requests();
    let demo = Demo::start(&["--quiet"]);
    let out = python::run(UPLOAD, &[&demo.url("")]);
    assert_eq!(out, "intact\n400 multipart body cut short in the headers of part 1\n");
}

#[test]
fn cors_origin_opens_the_api_to_that_origin_only() {
    let demo = Demo::start(&["--quiet", "--cors-origin", "http://app.example:3000"]);
    let (status, head, _) = curl(&[
        "-X",
        "OPTIONS",
        "-H",
        "Origin: http://app.example:3000",
        "-H",
        "Access-Control-Request-Method: POST",
        "-H",
        "Access-Control-Request-Headers: content-type",
        &demo.url("/api/items"),
    ]);
    assert_eq!(status, 204);
    assert_eq!(header(&head, "access-control-allow-origin"), Some("http://app.example:3000"));
    assert_eq!(header(&head, "access-control-allow-credentials"), Some("true"));
    assert_eq!(header(&head, "access-control-allow-headers"), Some("content-type, x-request-id"));
    let (status, head, _) = curl(&[
        "-H",
        "Origin: http://app.example:3000",
        "-H",
        "content-type: application/json",
        "-d",
        r#"{"name":"x"}"#,
        &demo.url("/api/items"),
    ]);
    assert_eq!(status, 201);
    assert_eq!(header(&head, "access-control-allow-origin"), Some("http://app.example:3000"));
    assert_eq!(header(&head, "access-control-expose-headers"), Some("x-request-id, location"));
    let (_, head, _) = curl(&["-H", "Origin: http://evil.example", &demo.url("/api/items/1")]);
    assert!(!head.contains("access-control-"), "{head}");
    let (_, head, _) = curl(&["-H", "Origin: http://app.example:3000", &demo.url("/plaintext")]);
    assert!(!head.contains("access-control-"), "only /api/ is opened: {head}");

    let closed = Demo::start(&["--quiet"]);
    let (_, head, _) = curl(&["-H", "Origin: http://app.example:3000", &closed.url("/api/items/1")]);
    assert!(!head.contains("access-control-"), "without --cors-origin: {head}");
}

#[test]
fn every_response_has_a_request_id_also_in_the_access_log() {
    let demo = Demo::start(&[]);
    let (_, head, _) = curl(&[&demo.url("/plaintext?which=generated")]);
    let id = header(&head, "x-request-id").expect("an X-Request-Id").to_string();
    assert_eq!(id.len(), 36, "{id}");
    let (_, line) =
        demo.wait_for_line("uri=/plaintext?which=generated", Duration::from_secs(10)).expect("an access line");
    assert!(line.contains(&format!(" request_id={id} ")), "{line}");
    let (_, head, _) = curl(&["-H", "X-Request-Id: from-the-proxy-7", &demo.url("/plaintext?which=given")]);
    assert_eq!(header(&head, "x-request-id"), Some("from-the-proxy-7"));
    let (_, line) = demo.wait_for_line("uri=/plaintext?which=given", Duration::from_secs(10)).expect("an access line");
    assert!(line.contains(" request_id=from-the-proxy-7 "), "{line}");
}

const IDS: &str = r#"
import sys, requests
s = requests.Session()
print("\n".join(s.get(sys.argv[1] + "/plaintext", timeout=30).headers["X-Request-Id"] for _ in range(300)))
"#;

#[test]
fn request_ids_of_two_demo_processes_never_meet() {
    python::python_has_requests();
    let (a, b) = (Demo::start(&["--quiet", "--workers", "2"]), Demo::start(&["--quiet", "--workers", "2"]));
    let mut seen = HashSet::new();
    for demo in [&a, &b] {
        for id in python::run(IDS, &[&demo.url("")]).lines() {
            assert_eq!(id.len(), 36, "{id}");
            assert!(seen.insert(id.to_string()), "{id} twice");
        }
    }
    assert_eq!(seen.len(), 600);
}
