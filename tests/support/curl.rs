//! curl as the HTTP client of a test, with the response taken apart.

use std::process::Command;

/// `curl -s -i` with `args` (at most 30 s): (status, lowercased head, body).
pub fn curl(args: &[&str]) -> (u16, String, String) {
    let out = Command::new("curl").args(["-s", "-i", "--max-time", "30"]).args(args).output().expect("run curl");
    assert!(out.status.success(), "curl failed: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").expect("a response head");
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, head.to_ascii_lowercase(), body.to_string())
}

/// The value of header `name` (lowercase) in a head [`curl`] lowercased.
pub fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(':').map(str::trim))
}
