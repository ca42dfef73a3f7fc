//! Runtime micro-benchmarks: the costs every request pays.
//!
//! Each measurement runs inside one green thread of a warm runtime
//! (`iter_custom`), so it times the loop itself, not runtime start-up.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use greenloop::Runtime;

mod ops;

fn timed(rt: &Runtime, iters: u64, body: fn(u64)) -> Duration {
    rt.run(move || {
        let start = Instant::now();
        body(iters);
        start.elapsed()
    })
}

fn runtime(c: &mut Criterion) {
    let rt = Runtime::new().unwrap();
    let mut g = c.benchmark_group("runtime");

    g.bench_function("yield_now round trip", |b| b.iter_custom(|iters| timed(&rt, iters, ops::yields)));
    g.bench_function("park+unpark round trip", |b| b.iter_custom(|iters| timed(&rt, iters, ops::park_unparks)));
    g.bench_function("spawn+join (pooled stack)", |b| b.iter_custom(|iters| timed(&rt, iters, ops::spawn_joins)));
    g.bench_function("channel ping-pong", |b| b.iter_custom(|iters| timed(&rt, iters, ops::channel_ping_pongs)));
    g.bench_function("block_on of a ready future", |b| b.iter_custom(|iters| timed(&rt, iters, ops::ready_block_ons)));

    // Hand an empty closure to the offload pool and park until it is done.
    g.bench_function("offload round trip", |b| {
        b.iter_custom(|iters| {
            timed(&rt, iters, |n| {
                for i in 0..n {
                    black_box(greenloop::offload(move || i));
                }
            })
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = runtime
}
criterion_main!(benches);
