//! The runtime core, end to end: real time, real sockets, generous bounds.

use std::io::{BufRead, BufReader, Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use greenloop::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use greenloop::sync::{self, Mutex, Semaphore, oneshot};
use greenloop::{Handle, LocalKey, park};

#[test]
fn ten_thousand_sleepers_finish_together() {
    let elapsed = greenloop::run(|| {
        let start = Instant::now();
        let handles: Vec<_> = (0..10_000)
            .map(|i| {
                greenloop::spawn(move || {
                    greenloop::sleep(Duration::from_secs(1));
                    i
                })
            })
            .collect();
        let sum: u64 = handles.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(sum, (0..10_000).sum::<u64>());
        start.elapsed()
    });
    assert!(elapsed >= Duration::from_secs(1), "woke early: {elapsed:?}");
    assert!(elapsed < Duration::from_secs(2), "10 000 sleeps of 1 s took {elapsed:?}");
}

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
fn channel_ping_pong() {
    let rounds = greenloop::run(|| {
        let (ping_tx, ping_rx) = sync::bounded::<u32>(1);
        let (pong_tx, pong_rx) = sync::unbounded::<u32>();
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
        let (tx, rx) = sync::bounded::<u32>(2);
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
        let (tx, rx) = sync::unbounded::<u64>();
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
fn tcp_echo_between_green_client_and_server() {
    greenloop::run(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = greenloop::spawn(move || {
            let mut served = 0;
            for _ in 0..20 {
                let (stream, _) = listener.accept().unwrap();
                greenloop::spawn(move || {
                    let mut reader = BufReader::new(&stream);
                    let mut line = String::new();
                    while reader.read_line(&mut line).unwrap() > 0 {
                        (&stream).write_all(line.as_bytes()).unwrap();
                        line.clear();
                    }
                });
                served += 1;
            }
            served
        });
        let clients = (0..20).map(|c| {
            move || {
                let stream = TcpStream::connect(addr).unwrap();
                stream.set_nodelay(true).unwrap();
                let mut reader = BufReader::new(&stream);
                for i in 0..50 {
                    let msg = format!("client {c} line {i}\n");
                    (&stream).write_all(msg.as_bytes()).unwrap();
                    let mut back = String::new();
                    reader.read_line(&mut back).unwrap();
                    assert_eq!(back, msg);
                }
            }
        });
        greenloop::join_all(clients);
        assert_eq!(server.join().unwrap(), 20);
    });
}

#[test]
fn large_transfer_parks_on_full_socket_buffers() {
    greenloop::run(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let payload: Vec<u8> = (0..8 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
        let expected = payload.clone();
        let writer = greenloop::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            s.write_all(&payload).unwrap();
            s.shutdown(std::net::Shutdown::Write).unwrap();
        });
        let mut s = TcpStream::connect(addr).unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).unwrap();
        assert!(got == expected, "payload corrupted");
        writer.join().unwrap();
    });
}

#[test]
fn unix_socket_echo() {
    let dir = std::env::temp_dir().join(format!("greenloop-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("echo.sock");
    let _ = std::fs::remove_file(&path);
    let p = path.clone();
    greenloop::run(move || {
        let listener = UnixListener::bind(&p).unwrap();
        let server = greenloop::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 64];
            loop {
                let n = s.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                s.write_all(&buf[..n]).unwrap();
            }
        });
        let mut c = UnixStream::connect(&p).unwrap();
        for i in 0..100 {
            let msg = format!("hello {i}");
            c.write_all(msg.as_bytes()).unwrap();
            let mut back = vec![0u8; msg.len()];
            c.read_exact(&mut back).unwrap();
            assert_eq!(back, msg.as_bytes());
        }
        drop(c);
        server.join().unwrap();

        let (mut a, mut b) = UnixStream::pair().unwrap();
        a.write_all(b"pair").unwrap();
        let mut buf = [0u8; 4];
        b.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"pair");
    });
    let _ = std::fs::remove_dir_all(&dir);
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
fn timeouts_fire_and_are_cleared() {
    greenloop::run(|| {
        // A sleep cut short by a scope.
        let start = Instant::now();
        let r = greenloop::timeout(Duration::from_millis(50), || greenloop::sleep(Duration::from_secs(5)));
        assert!(r.is_err());
        assert!(start.elapsed() < Duration::from_secs(1));

        // Work finishing in time returns its value, and the scope is gone after.
        let r = greenloop::timeout(Duration::from_millis(200), || {
            greenloop::sleep(Duration::from_millis(5));
            7
        });
        assert_eq!(r, Ok(7));
        let start = Instant::now();
        greenloop::sleep(Duration::from_millis(300));
        assert!(start.elapsed() >= Duration::from_millis(300), "a finished scope must not cut later sleeps");

        // A socket read inside a scope fails with TimedOut; a lock unwinds to the scope.
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let _keep = greenloop::spawn(move || {
            let (s, _) = listener.accept().unwrap();
            greenloop::sleep(Duration::from_secs(2));
            drop(s);
        });
        let mut s = TcpStream::connect(addr).unwrap();
        let r = greenloop::timeout(Duration::from_millis(50), || {
            let mut buf = [0u8; 8];
            s.read(&mut buf)
        });
        assert!(r.is_err());
        s.set_read_timeout(Some(Duration::from_millis(30))).unwrap();
        let err = s.read(&mut [0u8; 8]).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);

        let m = Mutex::new(());
        let _held = m.lock();
        let r = greenloop::timeout(Duration::from_millis(30), || drop(m.lock()));
        assert!(r.is_err(), "a lock wait must end at the scope's deadline");
        assert!(m.try_lock().is_none());
    });
}

#[test]
fn repeated_parks_with_later_deadlines_reuse_one_timer_and_still_time_out_on_time() {
    greenloop::run(|| {
        let me = park::unparker();
        // A partner unparks us 1000 times, each time before our deadline,
        // as a connection's reads do between requests. Each park's deadline
        // is later than the last: one timer entry serves them all.
        let partner = greenloop::spawn(move || {
            for _ in 0..1000 {
                me.unpark();
                greenloop::yield_now();
            }
        });
        let start = Instant::now();
        let mut most_timers = 0;
        for i in 0..1000u32 {
            let deadline = start + Duration::from_secs(60) + Duration::from_millis(i.into());
            assert_eq!(park::park_deadline(Some(deadline)), park::Wake::Unparked);
            most_timers = most_timers.max(greenloop::loop_stats().unwrap().timers);
        }
        partner.join().unwrap();
        assert!(most_timers <= 2, "a park with a later deadline must reuse the pending entry: {most_timers} held");

        // If a timer went missing, the parks below would never end: a
        // rescuer unparks them after 2 s, which fails their assertions.
        let me = park::unparker();
        let _rescuer = greenloop::spawn(move || {
            greenloop::sleep(Duration::from_secs(2));
            me.unpark();
        });

        // The entry made for a 60 s deadline is still pending: a park with an
        // earlier deadline gets its own, and times out on time.
        let t = Instant::now();
        assert_eq!(park::park_timeout(Duration::from_millis(50)), park::Wake::TimedOut);
        let took = t.elapsed();
        assert!(took >= Duration::from_millis(50), "{took:?}");

        // An entry earlier than a park's deadline fires first, finds the
        // deadline not reached, and moves on to it: armed at +100 ms, the
        // park it was made for ends at once (unparked), and the next park,
        // until +150 ms, reuses it.
        let t = Instant::now();
        let me = park::unparker();
        let early = greenloop::spawn(move || me.unpark());
        assert_eq!(park::park_deadline(Some(t + Duration::from_millis(100))), park::Wake::Unparked);
        early.join().unwrap();
        assert_eq!(park::park_deadline(Some(t + Duration::from_millis(150))), park::Wake::TimedOut);
        let took = t.elapsed();
        assert!(took >= Duration::from_millis(150), "woken by the +100 ms entry: {took:?}");
    });
}

#[test]
fn idle_stacks_beyond_the_pool_bound_are_unmapped_once_the_loop_is_idle() {
    let rt = greenloop::Builder::new().max_pooled_stacks(8).build().unwrap();
    rt.block_on(|| {
        let sleepers: Vec<_> =
            (0..100).map(|_| greenloop::spawn(|| greenloop::sleep(Duration::from_millis(10)))).collect();
        for s in sleepers {
            s.join().unwrap();
        }
        // Kept while the loop was busy ending them (unmapping each as it
        // finished delayed the others), given back once it is idle.
        let right_after = greenloop::loop_stats().unwrap().pooled_stacks;
        assert!(right_after > 8, "{right_after} pooled: the finished sleepers' stacks are kept at first");
        let give_up = Instant::now() + Duration::from_secs(10);
        while greenloop::loop_stats().unwrap().pooled_stacks > 8 {
            assert!(Instant::now() < give_up, "never trimmed: {:?}", greenloop::loop_stats());
            greenloop::sleep(Duration::from_millis(10));
        }
        assert_eq!(greenloop::loop_stats().unwrap().pooled_stacks, 8, "trimmed to the bound, not below");
        // Once trimmed, an idle loop blocks again instead of polling.
        let before = greenloop::loop_stats().unwrap().iterations;
        greenloop::sleep(Duration::from_millis(200));
        let turns = greenloop::loop_stats().unwrap().iterations - before;
        assert!(turns < 20, "{turns} loop turns in an idle 200 ms sleep");
        // And reused: spawning takes from the pool.
        greenloop::spawn(|| ()).join().unwrap();
        assert_eq!(greenloop::loop_stats().unwrap().pooled_stacks, 8);
    });
}

#[test]
fn a_loop_that_never_idles_still_gives_excess_stacks_back() {
    let rt = greenloop::Builder::new().max_pooled_stacks(8).build().unwrap();
    rt.block_on(|| {
        let done: Vec<_> = (0..100).map(|_| greenloop::spawn(|| ())).collect();
        for d in done {
            d.join().unwrap();
        }
        assert!(greenloop::loop_stats().unwrap().pooled_stacks > 8);
        // Always ready to run: the loop never has an idle turn.
        let mut yields = 0;
        while greenloop::loop_stats().unwrap().pooled_stacks > 8 {
            greenloop::yield_now();
            yields += 1;
            assert!(yields < 5_000_000, "busy loop never trimmed: {:?}", greenloop::loop_stats());
        }
        assert_eq!(greenloop::loop_stats().unwrap().pooled_stacks, 8);
    });
}

#[test]
fn nested_timeouts_report_the_right_scope() {
    greenloop::run(|| {
        let outer = greenloop::timeout(Duration::from_millis(500), || {
            let inner = greenloop::timeout(Duration::from_millis(20), || greenloop::sleep(Duration::from_secs(5)));
            assert!(inner.is_err());
            greenloop::sleep(Duration::from_millis(10));
            "outer survived"
        });
        assert_eq!(outer, Ok("outer survived"));
    });
}

#[test]
fn cross_thread_spawn_and_wake() {
    let rt = greenloop::Runtime::new().unwrap();
    let handle = rt.handle();
    let got = rt.block_on(move || {
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
fn call_later_and_park_on_its_result() {
    greenloop::run(|| {
        let (tx, rx) = oneshot::channel();
        let start = Instant::now();
        greenloop::call_later(Duration::from_millis(30), move || {
            let _ = tx.send(start.elapsed());
        });
        let cancelled = greenloop::call_later(Duration::from_millis(10), || panic!("cancelled call ran"));
        assert!(cancelled.cancel());
        let fired_after = rx.recv().unwrap();
        assert!(fired_after >= Duration::from_millis(30));
        greenloop::sleep(Duration::from_millis(20));
    });
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

#[inline(never)]
fn recurse(depth: u64) -> u64 {
    let pad = std::hint::black_box([depth as u8; 512]);
    if depth == 0 { pad[0] as u64 } else { recurse(depth - 1) + std::hint::black_box(pad[1]) as u64 }
}

#[test]
#[ignore = "run by stack_overflow_fails_only_that_green_thread in a child process"]
fn overflow_child() {
    if std::env::var_os("GREENLOOP_OVERFLOW_CHILD").is_none() {
        return;
    }
    greenloop::run(|| {
        let survivor = greenloop::spawn(|| {
            greenloop::sleep(Duration::from_millis(50));
            "survivor done"
        });
        let deep = greenloop::spawn_named("deep-recursion", || recurse(1_000_000));
        let err = deep.join().unwrap_err();
        assert!(err.is_stack_overflow(), "{err}");
        println!("JOIN_ERROR: {err}");
        println!("SURVIVOR: {}", survivor.join().unwrap());
        // The loop still spawns on recycled stacks.
        println!("AFTER: {}", greenloop::spawn(|| recurse(10)).join().unwrap());
    });
}

#[test]
fn stack_overflow_fails_only_that_green_thread() {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "overflow_child", "--ignored", "--nocapture", "--test-threads=1"])
        .env("GREENLOOP_OVERFLOW_CHILD", "1")
        .env("GREENLOOP_STACK_SIZE", "65536")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "child failed: {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}", out.status);
    assert!(
        stderr.contains("green thread 'deep-recursion' has overflowed its stack of 64 KiB"),
        "no clear message on stderr:\n{stderr}"
    );
    assert!(stderr.contains("GREENLOOP_STACK_SIZE"), "the message must say how to raise it:\n{stderr}");
    assert!(stdout.contains("SURVIVOR: survivor done"), "{stdout}");
    assert!(stdout.contains("JOIN_ERROR: green thread 'deep-recursion' overflowed its stack of 64 KiB"), "{stdout}");
    assert!(stdout.contains("AFTER: "), "{stdout}");
}

#[test]
fn sync_primitives_also_work_between_plain_threads() {
    let (tx, rx) = sync::bounded::<u32>(1);
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
fn a_panicking_call_later_callback_does_not_take_down_the_loop() {
    let survived = greenloop::run(|| {
        greenloop::call_later(Duration::from_millis(1), || panic!("callback boom"));
        greenloop::sleep(Duration::from_millis(30));
        "loop still running"
    });
    assert_eq!(survived, "loop still running");
}

#[test]
fn a_sender_that_timed_out_does_not_strand_the_next_one() {
    // Reviewer's repro: bounded(1) full; sender A gives up (timeout), sender B
    // parks; a receive must wake B, not only A's stale entry.
    greenloop::run(|| {
        let (tx, rx) = sync::bounded::<u32>(1);
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

#[test]
fn loop_time_is_read_once_per_turn_and_never_ahead() {
    let before = std::time::Instant::now();
    assert!(greenloop::loop_time() >= before, "outside a runtime it is the clock");
    greenloop::run(|| {
        let t0 = greenloop::loop_time();
        assert!(t0 <= std::time::Instant::now());
        // Busy for 20 ms without yielding: the loop's clock does not move.
        let spin = std::time::Instant::now();
        while spin.elapsed() < Duration::from_millis(20) {}
        assert_eq!(greenloop::loop_time(), t0, "no turn, no new reading");
        // A sleep takes turns of the loop: its clock caught up.
        greenloop::sleep(Duration::from_millis(30));
        let t1 = greenloop::loop_time();
        assert!(t1 >= t0 + Duration::from_millis(30), "{:?} after a 30 ms sleep", t1 - t0);
        assert!(t1 <= std::time::Instant::now());
    });
}
