//! The runtime's clock and timers, end to end in real time with generous
//! bounds: sleeps, timeout scopes, park deadlines, call_later, loop time.

use std::io::Read;
use std::time::{Duration, Instant};

use greenloop::net::{TcpListener, TcpStream};
use greenloop::park;
use greenloop::sync::{Mutex, oneshot};

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
            most_timers = most_timers.max(greenloop::inspect::loop_stats().unwrap().timers);
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
fn a_panicking_call_later_callback_does_not_take_down_the_loop() {
    let survived = greenloop::run(|| {
        greenloop::call_later(Duration::from_millis(1), || panic!("callback boom"));
        greenloop::sleep(Duration::from_millis(30));
        "loop still running"
    });
    assert_eq!(survived, "loop still running");
}

#[test]
fn loop_time_is_read_once_per_turn_and_never_ahead() {
    let before = std::time::Instant::now();
    assert!(greenloop::inspect::loop_time() >= before, "outside a runtime it is the clock");
    greenloop::run(|| {
        let t0 = greenloop::inspect::loop_time();
        assert!(t0 <= std::time::Instant::now());
        // Busy for 20 ms without yielding: the loop's clock does not move.
        let spin = std::time::Instant::now();
        while spin.elapsed() < Duration::from_millis(20) {}
        assert_eq!(greenloop::inspect::loop_time(), t0, "no turn, no new reading");
        // A sleep takes turns of the loop: its clock caught up.
        greenloop::sleep(Duration::from_millis(30));
        let t1 = greenloop::inspect::loop_time();
        assert!(t1 >= t0 + Duration::from_millis(30), "{:?} after a 30 ms sleep", t1 - t0);
        assert!(t1 <= std::time::Instant::now());
    });
}
