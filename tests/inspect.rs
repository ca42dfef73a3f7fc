//! `inspect::threads`: every green thread of every loop, with what it waits on.

use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

use greenloop::inspect::{GreenThread, ThreadState, WaitReason, threads};
use greenloop::sync::{Mutex, Semaphore};

fn find<'a>(list: &'a [GreenThread], label: &str) -> &'a GreenThread {
    list.iter().find(|t| t.label.as_deref() == Some(label)).unwrap_or_else(|| panic!("no '{label}' in {list:#?}"))
}

#[test]
fn each_park_site_says_what_it_waits_on() {
    greenloop::run(|| {
        let sleeper = greenloop::spawn_named("sleeper", || greenloop::sleep(Duration::from_secs(30)));
        let (tx, rx) = greenloop::sync::channel::bounded::<u8>(1);
        let receiver = greenloop::spawn_named("receiver", move || rx.recv().ok());
        let mutex = Arc::new(Mutex::new(()));
        let held = mutex.lock();
        let m = mutex.clone();
        let locker = greenloop::spawn_named("locker", move || drop(m.lock()));
        let sem = Arc::new(Semaphore::new(0));
        let s = sem.clone();
        let permit = greenloop::spawn_named("permit", move || drop(s.acquire()));
        let offloader = greenloop::spawn_named("offloader", || {
            greenloop::offload(|| std::thread::sleep(Duration::from_millis(400)));
        });
        let joiner = greenloop::spawn_named("joiner", move || sleeper.join().is_ok());
        let listener = greenloop::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let reader = greenloop::spawn_named("reader", move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 8];
            s.read(&mut buf).ok()
        });
        let client = greenloop::net::TcpStream::connect(addr).unwrap();
        greenloop::sleep(Duration::from_millis(100));
        greenloop::watchdog::set_label("asker");

        let list = threads();
        assert_eq!(find(&list, "asker").state, ThreadState::Running);
        for (label, why) in [
            ("sleeper", WaitReason::Timer),
            ("receiver", WaitReason::Channel),
            ("locker", WaitReason::Lock),
            ("permit", WaitReason::Semaphore),
            ("offloader", WaitReason::Offload),
            ("joiner", WaitReason::Join),
            ("reader", WaitReason::Read),
        ] {
            let t = find(&list, label);
            assert_eq!(t.state, ThreadState::Parked, "{t:?}");
            assert_eq!(t.waiting_on, Some(why), "{t:?}");
            let since = t.since.expect("a parked thread says for how long");
            assert!(since >= Duration::from_millis(50) && since < Duration::from_secs(10), "{t:?}");
        }
        assert!(find(&list, "reader").fd.is_some_and(|fd| fd > 2), "a socket wait names its descriptor");
        assert!(find(&list, "sleeper").fd.is_none());
        // What `/debug/threads` shows of them.
        let req = greenloop::http::Request::new(greenloop::http::Body::empty());
        let res = greenloop::http::debug::threads(req);
        let text = std::str::from_utf8(res.body().as_bytes().expect("a text body")).unwrap();
        assert!(text.contains("'sleeper': parked on timer for "), "{text}");

        // Let everything finish.
        tx.send(1).unwrap();
        drop(held);
        sem.add_permits(1);
        drop(client);
        for h in [receiver.join().is_ok(), locker.join().is_ok(), permit.join().is_ok(), offloader.join().is_ok()] {
            assert!(h);
        }
        let _ = reader.join();
        drop(joiner);
    });
}

#[test]
fn other_loops_answer_for_their_own_green_threads_and_plain_threads_can_ask() {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
    let other = std::thread::Builder::new()
        .name("other-loop".into())
        .spawn(move || {
            greenloop::run(move || {
                let _napper = greenloop::spawn_named("napper-elsewhere", || greenloop::sleep(Duration::from_secs(30)));
                greenloop::sleep(Duration::from_millis(20));
                ready_tx.send(()).unwrap();
                // Wait (parked, not blocking the loop) for the end.
                while stop_rx.try_recv().is_err() {
                    greenloop::sleep(Duration::from_millis(10));
                }
            })
        })
        .unwrap();
    ready_rx.recv().unwrap();
    // From a plain OS thread.
    let list = threads();
    let napper = find(&list, "napper-elsewhere");
    assert_eq!(napper.worker, "other-loop");
    assert_eq!(napper.waiting_on, Some(WaitReason::Timer));
    // From a green thread of another loop.
    let seen = greenloop::run(|| threads().iter().any(|t| t.label.as_deref() == Some("napper-elsewhere")));
    assert!(seen);
    stop_tx.send(()).unwrap();
    other.join().unwrap();
}
