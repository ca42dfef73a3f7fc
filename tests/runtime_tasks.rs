//! The runtime's green threads, end to end: spawning and joining, panics
//! contained to one green thread, wakes and spawns from other OS threads,
//! offload, green-thread-local storage, and shutdown with threads parked.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use greenloop::{Handle, LocalKey, park};

#[test]
fn join_all_keeps_input_order_and_runs_concurrently() {
    let (out, elapsed) = greenloop::run(|| {
        let start = Instant::now();
        let out = greenloop::join_all((0..50u64).map(|i| {
            move || {
                greenloop::sleep(Duration::from_millis(200 - i * 2));
                i * i
            }
        }));
        (out, start.elapsed())
    });
    assert_eq!(out, (0..50u64).map(|i| i * i).collect::<Vec<_>>());
    assert!(elapsed < Duration::from_millis(1000), "{elapsed:?}");
}

#[test]
fn a_panic_leaves_the_others_running() {
    greenloop::run(|| {
        let steady = greenloop::spawn(|| {
            for _ in 0..5 {
                greenloop::sleep(Duration::from_millis(5));
            }
            "still here"
        });
        let bad = greenloop::spawn(|| {
            greenloop::sleep(Duration::from_millis(7));
            panic!("boom in a green thread");
        });
        let err = bad.join().unwrap_err();
        assert!(err.is_panic());
        assert_eq!(err.panic_message(), Some("boom in a green thread"));
        assert_eq!(steady.join().unwrap(), "still here");
    });
}

#[test]
fn run_resumes_the_main_panic() {
    let r = std::panic::catch_unwind(|| greenloop::run(|| panic!("main boom")));
    let payload = r.unwrap_err();
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"main boom"));
}

#[test]
fn cross_thread_spawn_and_wake() {
    let rt = greenloop::Runtime::new().unwrap();
    let handle = rt.handle();
    let got = rt.run(move || {
        // Another OS thread spawns onto this loop and waits for the result.
        let h = handle.clone();
        let os = std::thread::spawn(move || {
            h.spawn(|| {
                greenloop::sleep(Duration::from_millis(10));
                21 * 2
            })
            .join()
            .unwrap()
        });
        // A callback-style library hands back a value via an unparker (uWSGI's greenlet.switch()).
        let slot = Arc::new(std::sync::Mutex::new(None));
        let (s, me) = (slot.clone(), park::unparker());
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            *s.lock().unwrap() = Some("from another thread");
            me.unpark();
        });
        let v = loop {
            if let Some(v) = slot.lock().unwrap().take() {
                break v;
            }
            park::park();
        };
        (os.join().unwrap(), v)
    });
    assert_eq!(got, (42, "from another thread"));
    assert!(Handle::is_alive(&rt.handle()));
    drop(rt);
}

#[test]
fn offload_runs_in_parallel_with_green_threads() {
    greenloop::run(|| {
        let start = Instant::now();
        let blocker = greenloop::spawn(move || {
            greenloop::offload(|| std::thread::sleep(Duration::from_millis(200)));
            start.elapsed()
        });
        let sleeper = greenloop::spawn(move || {
            greenloop::sleep(Duration::from_millis(10));
            start.elapsed()
        });
        let slept = sleeper.join().unwrap();
        assert!(slept < Duration::from_millis(150), "offload blocked the loop: green sleep took {slept:?}");
        let blocked = blocker.join().unwrap();
        assert!(blocked >= Duration::from_millis(200));

        // Many at once run on many threads.
        let start = Instant::now();
        greenloop::join_all((0..16).map(|_| || greenloop::offload(|| std::thread::sleep(Duration::from_millis(100)))));
        assert!(start.elapsed() < Duration::from_millis(800), "{:?}", start.elapsed());

        // Panics come back to the caller; the serial lane keeps order.
        let r = std::panic::catch_unwind(|| greenloop::offload(|| panic!("offloaded boom")));
        assert!(r.is_err());
        let order = Arc::new(std::sync::Mutex::new(Vec::new()));
        greenloop::join_all((0..10).map(|_| {
            let o = order.clone();
            move || {
                greenloop::offload_serial(move || {
                    o.lock().unwrap().push(std::thread::current().name().map(str::to_owned))
                })
            }
        }));
        let names = order.lock().unwrap();
        assert_eq!(names.len(), 10);
        assert!(names.iter().all(|n| n.as_deref() == Some("greenloop-serial")));
    });
}

static REQUEST_ID: LocalKey<String> = LocalKey::new();

#[test]
fn green_thread_locals_do_not_leak_between_green_threads() {
    greenloop::run(|| {
        let ids = greenloop::join_all((0..100).map(|i| {
            move || {
                REQUEST_ID.set(format!("req-{i}"));
                greenloop::sleep(Duration::from_millis((100 - i) % 7));
                REQUEST_ID.get()
            }
        }));
        for (i, id) in ids.into_iter().enumerate() {
            assert_eq!(id, Some(format!("req-{i}")));
        }
        assert_eq!(REQUEST_ID.get(), None, "the main green thread has its own (empty) slot");
    });
}

#[test]
fn dropping_the_runtime_cancels_parked_green_threads() {
    struct Flag(Arc<AtomicUsize>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let dropped = Arc::new(AtomicUsize::new(0));
    let d = dropped.clone();
    greenloop::run(move || {
        for _ in 0..10 {
            let flag = Flag(d.clone());
            greenloop::spawn(move || {
                let _f = flag;
                greenloop::sleep(Duration::from_secs(3600));
            });
        }
        greenloop::yield_now();
    });
    assert_eq!(dropped.load(Ordering::SeqCst), 10, "suspended green threads must be unwound at shutdown");
}
