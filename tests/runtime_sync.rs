//! The runtime's sync primitives: channels, the green Mutex and Semaphore,
//! between green threads, loops and plain OS threads, and waits cut by a
//! timeout.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use greenloop::sync::{self, Mutex, Semaphore};

#[test]
fn channel_ping_pong() {
    let rounds = greenloop::run(|| {
        let (ping_tx, ping_rx) = sync::channel::bounded::<u32>(1);
        let (pong_tx, pong_rx) = sync::channel::unbounded::<u32>();
        let echo = greenloop::spawn(move || {
            let mut n = 0;
            for v in &ping_rx {
                pong_tx.send(v + 1).unwrap();
                n += 1;
            }
            n
        });
        for i in 0..10_000 {
            ping_tx.send(i).unwrap();
            assert_eq!(pong_rx.recv().unwrap(), i + 1);
        }
        drop(ping_tx);
        echo.join().unwrap()
    });
    assert_eq!(rounds, 10_000);
}

#[test]
fn bounded_channel_applies_back_pressure() {
    greenloop::run(|| {
        let (tx, rx) = sync::channel::bounded::<u32>(2);
        let sent = Arc::new(AtomicUsize::new(0));
        let s = sent.clone();
        let producer = greenloop::spawn(move || {
            for i in 0..10 {
                tx.send(i).unwrap();
                s.fetch_add(1, Ordering::SeqCst);
            }
        });
        greenloop::sleep(Duration::from_millis(20));
        assert_eq!(sent.load(Ordering::SeqCst), 2, "a full channel must park the sender");
        let got: Vec<u32> = rx.iter().collect();
        assert_eq!(got, (0..10).collect::<Vec<_>>());
        producer.join().unwrap();
    });
}

#[test]
fn channel_senders_from_os_threads_wake_the_loop() {
    let total = greenloop::run(|| {
        let (tx, rx) = sync::channel::unbounded::<u64>();
        for t in 0..4 {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for i in 0..1000 {
                    tx.send(t * 1000 + i).unwrap();
                }
            });
        }
        drop(tx);
        rx.iter().count()
    });
    assert_eq!(total, 4000);
}

#[test]
fn green_mutex_and_semaphore_park_instead_of_blocking() {
    greenloop::run(|| {
        let m = Arc::new(Mutex::new(Vec::new()));
        let tasks = (0..20).map(|i| {
            let m = m.clone();
            move || {
                let mut g = m.lock();
                g.push(i);
                greenloop::sleep(Duration::from_millis(1)); // held across a park
                g.push(i);
            }
        });
        greenloop::join_all(tasks);
        let v = m.lock();
        assert!(v.chunks(2).all(|p| p[0] == p[1]), "critical sections interleaved: {v:?}");

        let sem = Arc::new(Semaphore::new(3));
        let running = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let start = Instant::now();
        greenloop::join_all((0..12).map(|_| {
            let (sem, running, peak) = (sem.clone(), running.clone(), peak.clone());
            move || {
                let _p = sem.acquire();
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                greenloop::sleep(Duration::from_millis(50));
                running.fetch_sub(1, Ordering::SeqCst);
            }
        }));
        assert_eq!(peak.load(Ordering::SeqCst), 3);
        assert!(start.elapsed() >= Duration::from_millis(200));
        assert!(sem.acquire_timeout(Duration::from_millis(10)).is_some());
    });
}

#[test]
fn sync_primitives_also_work_between_plain_threads() {
    let (tx, rx) = sync::channel::bounded::<u32>(1);
    let t = std::thread::spawn(move || (0..100).map(|_| rx.recv().unwrap()).sum::<u32>());
    for i in 0..100 {
        tx.send(i).unwrap();
    }
    assert_eq!(t.join().unwrap(), (0..100).sum::<u32>());
    let m = Mutex::new(1);
    *m.lock() += 1;
    assert_eq!(*m.lock(), 2);
}

#[test]
fn a_sender_that_timed_out_does_not_strand_the_next_one() {
    // Reviewer's repro: bounded(1) full; sender A gives up (timeout), sender B
    // parks; a receive must wake B, not only A's stale entry.
    greenloop::run(|| {
        let (tx, rx) = sync::channel::bounded::<u32>(1);
        tx.send(0).unwrap();
        let a = tx.clone();
        let gave_up = greenloop::spawn(move || greenloop::timeout(Duration::from_millis(10), || a.send(1)).is_err());
        assert!(gave_up.join().unwrap());
        let b = tx.clone();
        let sent = greenloop::spawn(move || b.send(2).is_ok());
        greenloop::sleep(Duration::from_millis(5));
        assert_eq!(rx.recv().unwrap(), 0);
        let got = greenloop::timeout(Duration::from_secs(2), || rx.recv().unwrap());
        assert_eq!(got, Ok(2), "the live sender must be woken when room appears");
        assert!(sent.join().unwrap());
    });
}

#[test]
fn a_lock_wait_cut_by_a_timeout_does_not_lose_the_lock() {
    greenloop::run(|| {
        let m = Arc::new(Mutex::new(0));
        let held = m.lock();
        let m2 = m.clone();
        let waiter = greenloop::spawn(move || greenloop::timeout(Duration::from_millis(10), || *m2.lock() += 1));
        assert!(waiter.join().unwrap().is_err());
        drop(held);
        let again = greenloop::timeout(Duration::from_secs(2), || *m.lock() += 1);
        assert_eq!(again, Ok(()), "the permit went to a waiter that had given up");
    });
}
