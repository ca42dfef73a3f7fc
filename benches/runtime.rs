//! Runtime micro-benchmarks: the costs every request pays.
//!
//! Each measurement runs inside one green thread of a warm runtime
//! (`iter_custom`), so it times the loop itself, not runtime start-up.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use greenloop::{Runtime, park, sync};

fn timed(rt: &Runtime, iters: u64, body: fn(u64)) -> Duration {
    rt.block_on(move || {
        let start = Instant::now();
        body(iters);
        start.elapsed()
    })
}

fn runtime(c: &mut Criterion) {
    let rt = Runtime::new().unwrap();
    let mut g = c.benchmark_group("runtime");

    // One green thread yields: park in the run queue, the loop resumes it.
    g.bench_function("yield_now round trip", |b| {
        b.iter_custom(|iters| {
            timed(&rt, iters, |n| {
                for _ in 0..n {
                    greenloop::yield_now();
                }
            })
        })
    });

    // Two green threads hand control to each other with park/unpark; one
    // iteration = one park + one unpark + one switch through the loop.
    g.bench_function("park+unpark round trip", |b| {
        b.iter_custom(|iters| {
            timed(&rt, iters, |n| {
                let main = park::unparker();
                let (tx, rx) = std::sync::mpsc::channel();
                let partner = greenloop::spawn(move || {
                    tx.send(park::unparker()).unwrap();
                    for _ in 0..n / 2 {
                        park::park();
                        main.unpark();
                    }
                });
                greenloop::yield_now();
                let other = rx.recv().unwrap();
                for _ in 0..n / 2 {
                    other.unpark();
                    park::park();
                }
                partner.join().unwrap();
            })
        })
    });

    // Spawn an empty green thread on a pooled stack and join it.
    g.bench_function("spawn+join (pooled stack)", |b| {
        b.iter_custom(|iters| {
            timed(&rt, iters, |n| {
                for i in 0..n {
                    black_box(greenloop::spawn(move || i).join().unwrap());
                }
            })
        })
    });

    // A message there and back between two green threads over two channels.
    g.bench_function("channel ping-pong", |b| {
        b.iter_custom(|iters| {
            timed(&rt, iters, |n| {
                let (ping, ping_rx) = sync::bounded::<u64>(1);
                let (pong, pong_rx) = sync::bounded::<u64>(1);
                let echo = greenloop::spawn(move || {
                    for v in &ping_rx {
                        pong.send(v).unwrap();
                    }
                });
                for i in 0..n {
                    ping.send(i).unwrap();
                    black_box(pong_rx.recv().unwrap());
                }
                drop(ping);
                echo.join().unwrap();
            })
        })
    });

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
