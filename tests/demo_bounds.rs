//! The demo's teaching routes (`/block`, `/offload`, `/api/aggregated/`)
//! show what blocking, offloading and fanning out cost; these tests pin the
//! bounds that stop one client from using them to take a worker down.

use std::time::{Duration, Instant};

mod support;
use support::demo::Demo;

/// The value of one Prometheus sample line in the demo's `/metrics`.
fn metric(demo: &Demo, name: &str) -> f64 {
    let (status, text) = demo.get("/metrics");
    assert_eq!(status, 200);
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /metrics"))
}

#[test]
fn block_is_capped_at_one_second() {
    let demo = Demo::start(&["--quiet"]);
    let (status, body, took) = demo.get_timed("/block?ms=60000");
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("at most 1000"), "the reason names the cap: {body}");
    assert!(took < Duration::from_secs(5), "refused without blocking: {took:?}");
    assert_eq!(demo.get("/block?ms=10").0, 200);
}

#[test]
fn offload_is_capped_in_length_and_in_calls_per_worker() {
    let demo = Demo::start(&["--quiet"]);
    let (status, body) = demo.get("/offload?ms=60000");
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("at most 10000"), "{body}");

    // Thirty-two long offloaded sleeps take every slot of the one worker...
    let held = demo.spawn_gets(32, "/offload?ms=3000");
    let deadline = Instant::now() + Duration::from_secs(20);
    while metric(&demo, "greenloop_offload_busy_threads") + metric(&demo, "greenloop_offload_queue_depth") < 32.0 {
        assert!(Instant::now() < deadline, "the 32 offloaded sleeps never all started");
        std::thread::sleep(Duration::from_millis(20));
    }
    // ...so the thirty-third is turned away at once, with a reason, while
    // the loop itself keeps serving.
    let (status, body, took) = demo.get_timed("/offload?ms=10");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("32 offloaded sleeps"), "{body}");
    assert!(took < Duration::from_secs(2), "answered at once, not queued: {took:?}");
    assert_eq!(demo.get("/plaintext").0, 200);
    for h in held {
        assert_eq!(h.join().unwrap().0, 200);
    }
    // The slots come back.
    assert_eq!(demo.get("/offload?ms=1").0, 200);
}

#[test]
fn fan_outs_take_turns_instead_of_opening_unbounded_sockets() {
    let demo = Demo::start(&["--quiet"]);
    // Eight 50-call fan-outs on one worker: four run at a time, so the
    // second four start only when the first end, about a second later.
    // Unbounded, all eight would take about one second together.
    let start = Instant::now();
    let all = demo.spawn_gets(8, "/api/aggregated/?num=50");
    for h in all {
        let (status, body) = h.join().unwrap();
        assert_eq!(status, 200, "{body}");
    }
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(1900), "eight fan-outs ran at once: {took:?}");
    assert!(took < Duration::from_secs(8), "queued fan-outs must still be served: {took:?}");
}
