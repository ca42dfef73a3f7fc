//! Concurrent sleeps: 100 green threads that each sleep 1 s finish in about 1 s.
//!
//! Scenario: a Django async view that sleeps, which Django + uvicorn ran
//! one at a time once a synchronous middleware crept in. Here every sleeper
//! parks its own green thread and the loop runs the others meanwhile. For
//! contrast, five green threads then call `std::thread::sleep`, which blocks
//! the whole OS thread: they take five times as long, one after another.
//!
//! Run: `cargo run --example concurrent_sleeps` (no server needed).

use std::time::{Duration, Instant};

fn main() {
    greenloop::run(|| {
        let start = Instant::now();
        let done = greenloop::join_all((0..100).map(|i| {
            move || {
                greenloop::sleep(Duration::from_secs(1)); // parks this green thread only
                i
            }
        }));
        println!(
            "{} green threads each slept 1 s: all done in {:.2} s (one after another: 100 s)",
            done.len(),
            start.elapsed().as_secs_f64()
        );

        let start = Instant::now();
        greenloop::join_all((0..5).map(|_| {
            // Wrong on purpose: this blocks the loop, so nothing else runs.
            || std::thread::sleep(Duration::from_millis(200))
        }));
        println!(
            "5 green threads each blocked the loop with std::thread::sleep(200 ms): {:.2} s (serialised; \
             use greenloop::sleep, or greenloop::offload for code that must block)",
            start.elapsed().as_secs_f64()
        );
    });
}
