//! The cooperative budget: a green thread whose I/O always succeeds without
//! parking (a socket that always has data, a channel that is never empty, a
//! loop over its own buffer) still lets the others run.

use std::cell::Cell;
use std::io::{Read, Write};
use std::rc::Rc;

use greenloop::net::UnixStream;

/// Spawns a green thread that records how far `progress` had got when it
/// first ran; returns that record.
fn watcher(progress: &Rc<Cell<usize>>) -> Rc<Cell<Option<usize>>> {
    let seen = Rc::new(Cell::new(None));
    let (p, s) = (progress.clone(), seen.clone());
    greenloop::spawn(move || s.set(Some(p.get())));
    seen
}

#[test]
fn a_reader_whose_socket_always_has_data_lets_others_run() {
    const TOTAL: usize = 64 * 1024;
    let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
    // All the data is in the socket before the reader starts: its reads
    // never find the socket empty, so without a budget it never parks.
    (&a).write_all(&vec![7u8; TOTAL]).unwrap();
    drop(a);
    let (seen, total) = greenloop::run(move || {
        let progress = Rc::new(Cell::new(0));
        let reader = {
            let progress = progress.clone();
            greenloop::spawn(move || {
                let stream = UnixStream::from_std(b).unwrap();
                let mut buf = [0u8; 16];
                loop {
                    match (&stream).read(&mut buf).unwrap() {
                        0 => break,
                        n => progress.set(progress.get() + n),
                    }
                }
            })
        };
        // Spawned after the reader: it runs only when the reader yields.
        greenloop::yield_now();
        let seen = watcher(&progress);
        reader.join().unwrap();
        (seen.get(), progress.get())
    });
    assert_eq!(total, TOTAL);
    let seen = seen.expect("the other green thread never ran");
    assert!(seen < TOTAL, "the other green thread ran only after the reader had read everything");
}

#[test]
fn a_receiver_whose_channel_is_never_empty_lets_others_run() {
    const TOTAL: usize = 10_000;
    let (seen, total) = greenloop::run(|| {
        let (tx, rx) = greenloop::sync::channel::unbounded();
        for i in 0..TOTAL {
            tx.send(i).unwrap();
        }
        drop(tx);
        let progress = Rc::new(Cell::new(0));
        let receiver = {
            let progress = progress.clone();
            greenloop::spawn(move || {
                while rx.recv().is_ok() {
                    progress.set(progress.get() + 1);
                }
            })
        };
        greenloop::yield_now();
        let seen = watcher(&progress);
        receiver.join().unwrap();
        (seen.get(), progress.get())
    });
    assert_eq!(total, TOTAL);
    let seen = seen.expect("the other green thread never ran");
    assert!(seen < TOTAL, "the other green thread ran only after the channel was drained");
}

#[test]
fn consume_budget_makes_a_busy_loop_yield_within_the_budget() {
    let (seen, total) = greenloop::run(|| {
        let progress = Rc::new(Cell::new(0));
        let busy = {
            let progress = progress.clone();
            greenloop::spawn(move || {
                for _ in 0..10_000 {
                    progress.set(progress.get() + 1);
                    greenloop::consume_budget();
                }
            })
        };
        greenloop::yield_now();
        let seen = watcher(&progress);
        busy.join().unwrap();
        (seen.get(), progress.get())
    });
    assert_eq!(total, 10_000);
    let seen = seen.expect("the other green thread never ran");
    // The budget is a few hundred operations at most, not thousands.
    assert!(seen <= 1_000, "the busy loop ran {seen} steps before yielding");
}

#[test]
fn consume_budget_outside_a_green_thread_does_nothing() {
    for _ in 0..1_000 {
        greenloop::consume_budget();
    }
}
