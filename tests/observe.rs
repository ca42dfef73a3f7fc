//! Seeing inside the running demo: the blocking line in the watchdog's
//! report, every green thread at `/debug/threads`, the live `/status` page
//! (rendered in headless Chromium when there is one), and an idle server
//! that sleeps.

use std::time::{Duration, Instant};

mod support;
use support::demo::Demo;

/// The line of `routes.rs` where the demo's `/block` handler sleeps on the loop.
fn block_sleep_line() -> usize {
    let src = include_str!("../src/bin/greenloop/routes.rs");
    let start = src.lines().position(|l| l.starts_with("fn block(")).expect("fn block in routes.rs");
    let offset = src.lines().skip(start).position(|l| l.contains("std::thread::sleep(")).expect("the sleep");
    start + offset + 1
}

#[test]
fn block_is_reported_with_the_demos_function_and_file_and_line() {
    let demo = Demo::start(&[]);
    assert_eq!(demo.get("/block?ms=100").0, 200);
    // The first symbolisation reads the (debug) binary's DWARF: allow time.
    let (_, line) = demo.wait_for_line("blocked the loop in", Duration::from_secs(60)).expect("a stack line");
    let user = format!("greenloop::routes::block (src/bin/greenloop/routes.rs:{})", block_sleep_line());
    assert!(line.contains(&user), "expected {user:?} in: {line}");
    assert!(line.contains("GET /block?ms=100"), "{line}");
    assert!(line.contains(" in std::thread::"), "the blocking call comes first: {line}");
    // The status JSON files it with the incident.
    let (_, status, _) = demo.get_json("/status.json");
    let incidents = status["incidents"].as_array().unwrap();
    let stack = incidents[0]["stack"].as_str().unwrap_or_default();
    assert!(stack.contains(&user), "{status}");
    assert!(incidents[0]["held_ms"].as_f64().unwrap() >= 80.0, "{status}");
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).expect("VmRSS");
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn the_debug_information_read_for_a_report_is_given_back() {
    // Symbolising reads the binary's debug information: tens of MiB that
    // must not stay resident for good because the loop blocked once.
    let demo = Demo::start(&["--quiet"]);
    let pid = demo.child.id();
    let before = rss_kib(pid);
    assert_eq!(demo.get("/block?ms=100").0, 200);
    demo.wait_for_line("blocked the loop in", Duration::from_secs(60)).expect("a stack line");
    let peak = rss_kib(pid);
    // Forgotten 30 s after the last report; allow as long again.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let now = rss_kib(pid);
        if now < before + 16 * 1024 {
            break;
        }
        assert!(Instant::now() < deadline, "RSS {before} KiB before, {peak} KiB after the report, still {now} KiB");
        std::thread::sleep(Duration::from_secs(1));
    }
}

#[test]
fn debug_threads_lists_ten_sleeping_requests_waiting_on_a_timer() {
    let demo = Demo::start(&["--quiet", "--workers", "2"]);
    let sleepers = demo.spawn_gets(10, "/sleep?ms=4000");
    let deadline = Instant::now() + Duration::from_secs(3);
    let text = loop {
        let (status, text) = demo.get("/debug/threads");
        assert_eq!(status, 200);
        let n = text
            .lines()
            .filter(|l| l.contains("'GET /sleep?ms=4000 (request ") && l.contains("parked on timer for "))
            .count();
        if n == 10 {
            break text;
        }
        assert!(Instant::now() < deadline, "want 10 sleeping requests in:\n{text}");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(text.contains("greenloop-worker-0:") && text.contains("greenloop-worker-1:"), "{text}");
    assert!(text.contains("'GET /debug/threads (request ") && text.contains(": running"), "{text}");
    assert!(text.lines().any(|l| l.contains("parked on read (fd ")), "the acceptors wait on their listeners:\n{text}");

    let (status, json, _) = demo.get_json("/debug/threads?format=json");
    assert_eq!(status, 200);
    let sleeping: Vec<_> = json["threads"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["label"].as_str().is_some_and(|l| l.starts_with("GET /sleep?ms=4000")))
        .collect();
    assert_eq!(sleeping.len(), 10, "{json}");
    for t in sleeping {
        assert_eq!(t["state"], "parked", "{t}");
        assert_eq!(t["waiting_on"], "timer", "{t}");
        assert!(t["since_ms"].as_f64().unwrap() >= 0.0, "{t}");
    }
    for h in sleepers {
        assert_eq!(h.join().unwrap().0, 200);
    }
}

#[test]
fn status_json_counts_requests_and_connections_as_they_happen() {
    let demo = Demo::start(&["--quiet"]);
    let (_, before, _) = demo.get_json("/status.json");
    let sleepers = demo.spawn_gets(5, "/sleep?ms=1500");
    std::thread::sleep(Duration::from_millis(300));
    for _ in 0..20 {
        assert_eq!(demo.get("/plaintext").0, 200);
    }
    let (_, during, _) = demo.get_json("/status.json");
    assert!(during["requests_total"].as_u64().unwrap() >= before["requests_total"].as_u64().unwrap() + 20, "{during}");
    assert!(during["connections_open"].as_u64().unwrap() >= 6, "five sleepers and this request: {during}");
    assert!(during["green_threads"].as_u64().unwrap() >= 6, "{during}");
    assert!(during["idle_seconds"].as_f64().unwrap() > 0.0, "{during}");
    assert!(during["time_ms"].as_u64().unwrap() > before["time_ms"].as_u64().unwrap(), "{during}");
    for h in sleepers {
        assert_eq!(h.join().unwrap().0, 200);
    }
    let (_, index) = demo.get("/");
    assert!(index.contains("/status") && index.contains("/debug/threads"), "the index lists the new routes");
    let (status, page) = demo.get("/status");
    assert_eq!(status, 200);
    assert!(page.contains("status.json") && page.contains("<svg"), "the page polls the JSON and draws SVG");
    assert!(!page.contains("http://") && !page.contains("https://"), "no external assets");
}

/// Context switches (voluntary and not) of every thread of process `pid`.
fn context_switches(pid: u32) -> u64 {
    let mut total = 0;
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap().flatten() {
        let Ok(status) = std::fs::read_to_string(task.path().join("status")) else { continue };
        for line in status.lines() {
            if line.starts_with("voluntary_ctxt_switches:") || line.starts_with("nonvoluntary_ctxt_switches:") {
                total += line.split_whitespace().nth(1).and_then(|n| n.parse::<u64>().ok()).unwrap_or(0);
            }
        }
    }
    total
}

#[test]
fn an_idle_server_wakes_at_most_four_times_a_second() {
    if !std::path::Path::new("/proc/self/task").exists() {
        eprintln!("skipped: no /proc");
        return;
    }
    let demo = Demo::start(&["--quiet", "--workers", "2"]);
    // One request first, so every lazily started part has started.
    assert_eq!(demo.get("/plaintext").0, 200);
    std::thread::sleep(Duration::from_secs(1));
    let pid = demo.child.id();
    let before = context_switches(pid);
    std::thread::sleep(Duration::from_secs(5));
    let woke = context_switches(pid) - before;
    assert!(woke <= 20, "an idle server woke {woke} times in 5 s (at most 4/s wanted)");
}

/// The text of the element with id `id` in a dumped DOM.
fn text_of(dom: &str, id: &str) -> String {
    let at = dom.find(&format!("id=\"{id}\"")).unwrap_or_else(|| panic!("no #{id} in {dom}"));
    let from = at + dom[at..].find('>').unwrap() + 1;
    dom[from..from + dom[from..].find('<').unwrap()].to_string()
}

#[test]
fn the_status_page_renders_numbers_that_move_under_load_in_headless_chromium() {
    let Some(browser) = support::chromium::browser() else { return };
    let demo = Demo::start(&["--quiet"]);
    // Load: a stream of requests for as long as the browser looks.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load: Vec<_> = (0..4)
        .map(|_| {
            let (url, stop) = (demo.url("/sleep?ms=5"), stop.clone());
            std::thread::spawn(move || {
                let agent = ureq::Agent::new_with_defaults();
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let _ = agent.get(&url).call().map(|r| r.into_body().read_to_string());
                }
            })
        })
        .collect();
    let url = demo.url("/status");
    let first = support::chromium::dump_dom(&browser, &url, Some(3000), "status-1");
    let second = support::chromium::dump_dom(&browser, &url, Some(3000), "status-2");
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for l in load {
        l.join().unwrap();
    }
    for dom in [&first, &second] {
        assert!(dom.contains("data-polls=\""), "the page polled: {dom}");
        let rps: f64 = text_of(dom, "rps").parse().unwrap_or_else(|_| panic!("requests/s is a number: {dom}"));
        assert!(rps > 0.0, "requests/s under load: {rps}");
        let _: f64 = text_of(dom, "p99").parse().unwrap_or_else(|_| panic!("p99 is a number: {dom}"));
        let busy: f64 = text_of(dom, "busy").parse().unwrap();
        assert!((0.0..=100.0).contains(&busy));
        assert!(dom.contains("<polyline points=\"") && !dom.contains("<polyline points=\"\""), "charts drawn");
    }
    let total = |dom: &str| text_of(dom, "total").parse::<u64>().unwrap();
    assert!(total(&second) > total(&first), "the total moves: {} then {}", total(&first), total(&second));
}
