//! `call_later` and parking on a callback's result (uWSGI `--asyncio --greenlet`).
//!
//! Scenario: under uWSGI's asyncio + greenlet mode, a view schedules
//! `loop.call_later(1, callback)` and switches back to the hub until the
//! callback hands it a result. In greenloop the view registers the callback
//! with [`greenloop::call_later`] and parks on a
//! [`greenloop::sync::oneshot`] receiver; the callback fires on the loop a
//! second later and sends the value, which wakes the view. Ten such "views"
//! run at once and all finish after one second. A cancelled call never fires,
//! and its waiter learns so instead of hanging.
//!
//! Run: `cargo run --example call_later` (no server needed).

use std::time::{Duration, Instant};

use greenloop::sync::oneshot;

/// A "view": schedules a callback and parks until the callback answers.
fn view(task_id: u32) -> String {
    let (tx, rx) = oneshot::channel();
    greenloop::call_later(Duration::from_secs(1), move || {
        // Runs on the loop, on a green thread of its own, one second from now.
        let _ = tx.send(format!("callback result for task {task_id}"));
    });
    rx.recv().unwrap_or_else(|_| "the callback never ran".into())
}

fn main() {
    greenloop::run(|| {
        let start = Instant::now();
        let results = greenloop::join_all((0..10).map(|i| move || view(i)));
        for r in &results {
            println!("{r}");
        }
        println!("10 views waited on 1 s callbacks: {:.2} s in all", start.elapsed().as_secs_f64());

        // A cancelled call drops its closure, and with it the sender.
        let (tx, rx) = oneshot::channel::<&str>();
        let call = greenloop::call_later(Duration::from_millis(100), move || {
            let _ = tx.send("too late");
        });
        call.cancel();
        match rx.recv() {
            Ok(v) => println!("unexpected: {v}"),
            Err(e) => println!("cancelled callback: the waiter is told ({e})"),
        }
    });
}
