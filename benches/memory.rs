//! Resident memory per sleeping green thread.
//!
//! Spawns N green threads (default 10 000; `GREENLOOP_MEMORY_N`) that each
//! sleep, reads VmRSS from /proc/self/status before and while they sleep, and
//! prints the difference per green thread. Run: `cargo bench --bench memory`.

use std::time::Duration;

fn vm_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status")
}

fn main() {
    // `cargo bench` passes `--bench`; ignore arguments.
    let n: usize = std::env::var("GREENLOOP_MEMORY_N").ok().and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let (before, during) = greenloop::run(move || {
        // Warm the allocator and the loop once so the baseline is fair.
        greenloop::spawn(|| greenloop::sleep(Duration::from_millis(1))).join().unwrap();
        let before = vm_rss_kib();
        let (ready_tx, ready_rx) = greenloop::sync::channel::unbounded::<()>();
        let handles: Vec<_> = (0..n)
            .map(|_| {
                let ready = ready_tx.clone();
                greenloop::spawn(move || {
                    let _ = ready.send(());
                    greenloop::sleep(Duration::from_millis(500));
                })
            })
            .collect();
        for _ in 0..n {
            ready_rx.recv().unwrap();
        }
        let during = vm_rss_kib();
        for h in handles {
            h.join().unwrap();
        }
        (before, during)
    });
    let per = (during.saturating_sub(before)) as f64 * 1024.0 / n as f64;
    println!("sleeping green threads: {n}");
    println!("VmRSS before: {before} KiB, while sleeping: {during} KiB");
    println!("resident memory per sleeping green thread: {per:.0} bytes ({:.2} KiB)", per / 1024.0);
}
