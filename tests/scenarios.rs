//! The demo binary's Django-like `/api/` views (one-second views served
//! concurrently, a view that fans out to ten upstream calls), run as a user
//! runs them: the routes, `--upstream`, and `greenloop swarm`.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::{Value, json};

mod support;
use support::demo::{BIN, Demo};
use support::raw::exchange;

fn error_reason(v: &Value) -> &str {
    v["error"].as_str().unwrap_or_else(|| panic!("no error reason in {v}"))
}

#[test]
fn api_views_answer_json_after_one_second() {
    let demo = Demo::start(&["--quiet"]);
    let (status, v, took) = demo.get_json("/api/?task_id=7");
    assert_eq!(status, 200);
    assert_eq!(v, json!({ "message": "Hello World", "task_id": "7" }));
    assert!(took >= Duration::from_millis(950), "the view waits 1 s; answered in {took:?}");

    let (status, v, _) = demo.get_json("/api/async_sleep/");
    assert_eq!((status, v), (200, json!({ "mode": "green", "time": 1 })));

    let (status, v, took) = demo.get_json("/api/");
    assert_eq!(status, 400);
    assert!(error_reason(&v).contains("task_id"), "{v}");
    assert!(took < Duration::from_millis(500), "a bad request is refused at once, took {took:?}");

    let (status, page) = demo.get("/");
    assert_eq!(status, 200);
    for route in ["/api/?task_id=", "/api/async_sleep/", "/api/aggregated/", "/api/aggregated_sync/"] {
        assert!(page.contains(route), "the index page must list {route}");
    }
}

#[test]
fn aggregated_fans_out_at_once_in_order() {
    let demo = Demo::start(&["--quiet"]);
    let (status, v, took) = demo.get_json("/api/aggregated/?num=10");
    assert_eq!(status, 200, "{v}");
    assert!(took < Duration::from_millis(1500), "ten 1 s calls at once took {took:?}");
    let responses = v["responses"].as_array().unwrap_or_else(|| panic!("no responses in {v}"));
    let expected: Vec<Value> = (0..10).map(|i| json!({ "message": "Hello World", "task_id": i.to_string() })).collect();
    assert_eq!(responses, &expected, "the upstream answers, in order");
    assert!(v["message"].is_string(), "{v}");
    let debug = v["debug_message"].as_str().unwrap_or_else(|| panic!("no debug_message in {v}"));
    let secs: f64 = debug
        .strip_prefix("fetch executed in ")
        .and_then(|s| s.strip_suffix(" seconds."))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("debug_message {debug:?}"));
    assert!((0.95..1.5).contains(&secs), "{debug}");

    for bad in ["0", "101", "ten", "-1"] {
        let (status, v, _) = demo.get_json(&format!("/api/aggregated/?num={bad}"));
        assert_eq!(status, 400, "num={bad}: {v}");
        assert!(error_reason(&v).contains("num"), "{v}");
    }
}

#[test]
fn aggregated_sync_makes_the_calls_one_after_another() {
    let demo = Demo::start(&["--quiet"]);
    let (status, v, took) = demo.get_json("/api/aggregated_sync/?num=3");
    assert_eq!(status, 200, "{v}");
    assert!(took >= Duration::from_secs(3), "three 1 s calls one by one took only {took:?}");
    let ids: Vec<&str> = v["responses"].as_array().unwrap().iter().map(|r| r["task_id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["0", "1", "2"]);
    assert!(v["debug_message"].as_str().unwrap().starts_with("fetch executed in 3."), "{v}");
}

#[test]
fn the_upstream_option_is_used() {
    // B logs every request it serves; A is quiet and calls B.
    let b = Demo::start(&[]);
    let upstream = format!("http://{}", b.addr());
    let a = Demo::start(&["--quiet", "--upstream", &upstream]);
    let (status, v, _) = a.get_json("/api/aggregated/?num=2");
    assert_eq!(status, 200, "{v}");
    assert!(v["message"].as_str().unwrap().contains(&upstream), "{v}");
    // The two calls end together, so their log lines may come in either order.
    let mut missing = vec!["uri=/api/?task_id=0 ", "uri=/api/?task_id=1 "];
    while !missing.is_empty() {
        let line = b
            .wait_for_line("uri=/api/?task_id=", Duration::from_secs(5))
            .map(|(_, line)| line)
            .unwrap_or_else(|| panic!("B's access log lacks {missing:?}: A ignored --upstream"));
        assert!(line.contains("ua=greenloop/"), "made by greenloop's client: {line}");
        missing.retain(|m| !line.contains(m));
    }

    // An upstream nobody listens on: 502 with the reason.
    let free = TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", free.local_addr().unwrap());
    drop(free);
    let c = Demo::start(&["--quiet", "--upstream", &dead]);
    let (status, v, _) = c.get_json("/api/aggregated/?num=3");
    assert_eq!(status, 502, "{v}");
    let reason = error_reason(&v);
    assert!(reason.contains("3 of 3") && reason.contains("refused"), "{reason}");
}

#[test]
fn a_unix_socket_server_without_upstream_says_why() {
    let path: PathBuf = std::env::temp_dir().join(format!("greenloop-scenarios-{}.sock", std::process::id()));
    let demo = Demo::spawn(&["--quiet", "--unix", path.to_str().unwrap()]);
    let s = std::os::unix::net::UnixStream::connect(&path).unwrap();
    let (status, body) = exchange(s, "/api/aggregated/?num=2");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("--upstream"), "{body}");
    drop(demo);
    let _ = std::fs::remove_file(&path);
}

#[test]
fn the_client_pool_is_created_and_closed_with_each_worker() {
    let mut demo = Demo::start(&["--quiet", "--workers", "2"]);
    let created = demo.before_banner.iter().filter(|l| l.contains("upstream client pool created")).count();
    assert_eq!(created, 2, "one pool per worker: {:?}", demo.before_banner);
    assert_eq!(demo.get_json("/api/aggregated/?num=2").0, 200);
    // SIGTERM: a graceful stop runs the stop hooks on each worker.
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(demo.child.id() as i32, libc::SIGTERM) }, 0);
    for _ in 0..2 {
        demo.wait_for_line("closing the upstream client pool", Duration::from_secs(10))
            .expect("a closing line per worker");
    }
    let status = demo.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
}

/// Runs `greenloop swarm` with `args`.
fn swarm(args: &[&str]) -> Output {
    Command::new(BIN).arg("swarm").args(args).output().expect("run greenloop swarm")
}

/// The value of `key: value` in the swarm summary.
fn summary_value<'a>(stdout: &'a str, key: &str) -> &'a str {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix(": ")))
        .unwrap_or_else(|| panic!("no {key:?} in the summary:\n{stdout}"))
}

#[test]
fn swarm_shows_ten_users_make_ten_requests_a_second() {
    let demo = Demo::start(&["--quiet"]);
    let out = swarm(&[&demo.url("/api/async_sleep/"), "--users", "10", "--duration", "3"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let rate: f64 = summary_value(&stdout, "req/s").parse().unwrap();
    assert!((7.0..=12.0).contains(&rate), "10 users on a 1 s view: {rate} req/s\n{stdout}");
    assert_eq!(summary_value(&stdout, "errors"), "0", "{stdout}\n{stderr}");
    let requests: u64 = summary_value(&stdout, "requests").parse().unwrap();
    assert!((20..=40).contains(&requests), "{stdout}");
    let p50 = summary_value(&stdout, "latency p50");
    let ms: f64 = p50.strip_suffix(" ms").and_then(|m| m.parse().ok()).unwrap_or_else(|| panic!("p50 {p50:?}"));
    assert!((950.0..1500.0).contains(&ms), "{stdout}");
    for key in ["latency p90", "latency p99", "latency max"] {
        assert!(summary_value(&stdout, key).ends_with(" ms"), "{stdout}");
    }
    assert!(stderr.contains("req/s"), "a progress line on stderr: {stderr}");
}

#[test]
fn swarm_argument_errors_exit_2_with_the_reason() {
    for (args, reason) in [
        (&[][..], "missing URL"),
        (&["ftp://127.0.0.1:1/"][..], "not an http:// or https:// URL"),
        (&["http://127.0.0.1:1/", "--users", "0"][..], "out of range"),
        (&["http://127.0.0.1:1/", "--users", "100001"][..], "out of range"),
        (&["http://127.0.0.1:1/", "--users", "many"][..], "not a whole number"),
        (&["http://127.0.0.1:1/", "--duration", "0"][..], "out of range"),
        (&["http://127.0.0.1:1/", "--duration"][..], "needs a value"),
        (&["http://127.0.0.1:1/", "--bogus"][..], "unknown option"),
    ] {
        let out = swarm(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(reason), "{args:?}: expected {reason:?} in {stderr}");
        assert!(out.stdout.is_empty(), "{args:?}: nothing on stdout");
    }
    let help = Command::new(BIN).arg("--help").output().unwrap();
    assert!(String::from_utf8_lossy(&help.stdout).contains("greenloop swarm URL"));
}
