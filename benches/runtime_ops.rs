//! The runtime micro-operations of `benches/runtime.rs`, run a given number
//! of times without a timing harness, for `benches/callgrind_runtime.sh`
//! to count their instructions (a figure a noisy VM does not move).
//!
//! `cargo bench --bench runtime_ops -- OP N` with OP one of `yield`,
//! `park`, `spawn`, `channel`; N = 0 measures the fixed start-up cost.

use std::hint::black_box;

use greenloop::{Runtime, park, sync};

fn main() {
    // `cargo bench` adds `--bench`: keep only our own arguments.
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let (Some(op), Some(n)) = (args.first(), args.get(1).and_then(|n| n.parse::<u64>().ok())) else {
        eprintln!("usage: runtime_ops yield|park|spawn|channel N");
        std::process::exit(2);
    };
    let op = op.clone();
    let rt = Runtime::new().expect("runtime");
    rt.block_on(move || match op.as_str() {
        "yield" => (0..n).for_each(|_| greenloop::yield_now()),
        "park" => {
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
        "spawn" => (0..n).for_each(|i| {
            black_box(greenloop::spawn(move || i).join().unwrap());
        }),
        "channel" => {
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
        }
        other => {
            eprintln!("unknown operation {other:?}");
            std::process::exit(2);
        }
    });
}
