//! What a wake from tokio's threads costs a green thread: the round trip of
//! `tokio::spawn(async { .. }).await` (the task runs on a tokio thread,
//! whose completion wakes the waiter), one at a time, measured
//!
//! - from a green thread through `greenloop::block_on` (the waker unparks
//!   the green thread through the loop's remote queue and eventfd),
//! - from a plain thread through tokio's own `Runtime::block_on` on the same
//!   kind of multi-thread runtime (tokio parks and unparks that OS thread),
//! - inside a task of that runtime (the wake stays within tokio),
//!
//! alternated in one run. The difference between the first two is the extra
//! latency of a wake through the bridge.
//!
//! `cargo run --release -p greenloop-ecosystem --example wake_latency`

use std::time::{Duration, Instant};

const N: u32 = 20_000;

fn main() {
    let tokio_rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let rt = greenloop::Builder::new().tokio_handle(tokio_rt.handle().clone()).build().unwrap();
    let (mut bridged, mut outside, mut inside) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..5 {
        bridged.push(rt.run(|| {
            let start = Instant::now();
            for i in 0..N {
                let v = greenloop::block_on(async move { tokio::spawn(async move { i }).await.unwrap() });
                assert_eq!(v, i);
            }
            start.elapsed() / N
        }));
        outside.push({
            let start = Instant::now();
            for i in 0..N {
                let v = tokio_rt.block_on(async move { tokio::spawn(async move { i }).await.unwrap() });
                assert_eq!(v, i);
            }
            start.elapsed() / N
        });
        inside.push(tokio_rt.block_on(async {
            tokio::spawn(async {
                let start = Instant::now();
                for i in 0..N {
                    let v = tokio::spawn(async move { i }).await.unwrap();
                    assert_eq!(v, i);
                }
                start.elapsed() / N
            })
            .await
            .unwrap()
        }));
    }
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    println!("tokio::spawn(..).await round trip, median of 5 × {N}:");
    println!("  green thread, greenloop::block_on:    {:?}", median(&mut bridged));
    println!("  plain thread, tokio Runtime::block_on: {:?}", median(&mut outside));
    println!("  inside a tokio task:                   {:?}", median(&mut inside));
}
