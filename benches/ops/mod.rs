//! The runtime operations both `benches/runtime.rs` (timed by criterion)
//! and `benches/runtime_ops.rs` (counted by callgrind) run: each does `n`
//! of its operation inside the calling green thread.

use std::hint::black_box;

use greenloop::{park, sync};

/// One green thread yields: parks in the run queue, the loop resumes it.
pub fn yields(n: u64) {
    for _ in 0..n {
        greenloop::yield_now();
    }
}

/// Two green threads hand control to each other with park/unpark; one
/// operation = one park + one unpark + one switch through the loop.
pub fn park_unparks(n: u64) {
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
}

/// Spawn an empty green thread on a pooled stack and join it.
pub fn spawn_joins(n: u64) {
    for i in 0..n {
        black_box(greenloop::spawn(move || i).join().unwrap());
    }
}

/// A message there and back between two green threads over two channels.
pub fn channel_ping_pongs(n: u64) {
    let (ping, ping_rx) = sync::channel::bounded::<u64>(1);
    let (pong, pong_rx) = sync::channel::bounded::<u64>(1);
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
}

/// `n` `block_on`s of a future that is ready at once, after one untimed
/// call (with the `tokio` feature it creates the shared tokio runtime, a
/// fixed cost that `n = 0` then also pays).
pub fn ready_block_ons(n: u64) {
    greenloop::block_on(async {});
    for i in 0..n {
        std::hint::black_box(greenloop::block_on(async move { std::hint::black_box(i) }));
    }
}
