//! `block_on` with the `tokio` feature: futures that need tokio's reactor,
//! timers or `tokio::spawn`, run on green threads.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use greenloop::http::{Request, Response, Router, Server, get};
use greenloop::inspect::{ThreadState, WaitReason};

/// `tokio::time::sleep` looks for tokio's context when called, not when
/// polled: it is made inside the async block, which `block_on` polls in it.
fn tokio_sleep(ms: u64) {
    greenloop::block_on(async { tokio::time::sleep(Duration::from_millis(ms)).await });
}

#[test]
fn twenty_tokio_sleeps_on_one_loop_overlap_while_the_loop_stays_free() {
    greenloop::run(|| {
        let start = Instant::now();
        // A green timer on the same loop keeps its pace during the waits.
        let ticker = greenloop::spawn(green_timer_lateness);
        let sleepers: Vec<_> = (0..20).map(|_| move || tokio_sleep(300)).collect();
        greenloop::join_all(sleepers);
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(300), "{took:?}");
        assert!(took < Duration::from_millis(1500), "20 × 300 ms tokio sleeps took {took:?}: they ran one by one");
        let late = ticker.join().unwrap();
        assert!(late < Duration::from_millis(100), "a 10 ms green sleep took {late:?} during the tokio sleeps");
    });
}

#[test]
fn tokio_spawn_runs_on_the_bridge_runtime_threads() {
    let name = greenloop::run(|| {
        greenloop::block_on(async {
            tokio::spawn(async { std::thread::current().name().map(str::to_owned) }).await.unwrap()
        })
    });
    assert_eq!(name.as_deref(), Some("greenloop-tokio"));
}

#[test]
fn a_non_send_future_holding_an_rc_across_awaits_runs() {
    let n = greenloop::run(|| {
        let counter = Rc::new(Cell::new(0));
        let c = counter.clone();
        greenloop::block_on(async move {
            for _ in 0..3 {
                tokio::time::sleep(Duration::from_millis(5)).await;
                c.set(c.get() + 1);
            }
        });
        counter.get()
    });
    assert_eq!(n, 3);
}

#[test]
fn interleaved_green_threads_never_leave_tokio_contexts_out_of_order() {
    // A enters first and finishes last, B enters second and finishes first:
    // a context guard held across the park would be dropped out of order,
    // which tokio refuses with a panic. And no green thread sees another's
    // context while it runs between two polls.
    greenloop::run(|| {
        let a = greenloop::spawn(|| tokio_sleep(200));
        let b = greenloop::spawn(|| tokio_sleep(50));
        let c = greenloop::spawn(|| tokio_sleep(100));
        greenloop::sleep(Duration::from_millis(20));
        // Between polls, what a green thread sees is the loop's own context.
        assert!(tokio::runtime::Handle::try_current().is_ok(), "the loop's tokio context is missing");
        assert!(b.join().is_ok() && c.join().is_ok() && a.join().is_ok());
    });
    // The loop's context is left when the loop returns, and nothing else
    // entered on it is left over.
    assert!(tokio::runtime::Handle::try_current().is_err(), "a tokio context outlived the loop");
}

#[test]
fn futures_made_before_block_on_find_the_context() {
    greenloop::run(|| {
        // Made before `block_on` runs: the timer is looked up at once.
        let start = Instant::now();
        greenloop::block_on(tokio::time::sleep(Duration::from_millis(50)));
        assert!(start.elapsed() >= Duration::from_millis(50));
        // A timeout, likewise.
        let r = greenloop::block_on(tokio::time::timeout(Duration::from_millis(20), std::future::pending::<()>()));
        assert!(r.is_err());
        // Spawned with no `block_on` around it, awaited later.
        let task = tokio::spawn(async { std::thread::current().name().map(str::to_owned) });
        assert_eq!(greenloop::block_on(task).unwrap().as_deref(), Some("greenloop-tokio"));
        // From another green thread too.
        let other = greenloop::spawn(|| greenloop::block_on(tokio::time::sleep(Duration::from_millis(5))));
        other.join().unwrap();
    });
}

#[test]
fn a_tcp_connect_made_outside_block_on_runs_on_a_green_thread() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        use std::io::Write;
        let (mut s, _) = listener.accept().unwrap();
        s.write_all(b"hello").unwrap();
    });
    let got = greenloop::run(move || {
        use tokio::io::AsyncReadExt;
        let connect = tokio::net::TcpStream::connect(addr);
        let mut stream = greenloop::block_on(connect).unwrap();
        // A read future made outside, too.
        let mut buf = Vec::new();
        greenloop::block_on(stream.read_to_end(&mut buf)).unwrap();
        buf
    });
    server.join().unwrap();
    assert_eq!(got, b"hello");
}

/// Notes, when dropped, whether a tokio context was entered at the time.
struct DropProbe(Arc<AtomicBool>, Arc<AtomicBool>);

impl Drop for DropProbe {
    fn drop(&mut self) {
        self.1.store(tokio::runtime::Handle::try_current().is_ok(), Ordering::SeqCst);
        self.0.store(true, Ordering::SeqCst);
    }
}

#[test]
fn a_timeout_around_a_bridged_call_drops_the_future_in_its_context() {
    let (dropped, in_context) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
    let (d, c) = (dropped.clone(), in_context.clone());
    let (outcome, took) = greenloop::run(move || {
        let start = Instant::now();
        let out = greenloop::timeout(Duration::from_millis(100), || {
            greenloop::block_on(async move {
                let _probe = DropProbe(d, c);
                tokio::time::sleep(Duration::from_secs(10)).await;
            })
        });
        // The loop goes on as usual after the cancelled call.
        tokio_sleep(10);
        (out.is_err(), start.elapsed())
    });
    assert!(outcome, "the timeout did not report Elapsed");
    assert!(took < Duration::from_secs(2), "the cancelled call took {took:?}");
    assert!(dropped.load(Ordering::SeqCst), "the future was not dropped");
    assert!(in_context.load(Ordering::SeqCst), "the future was dropped outside tokio's context");
}

#[test]
fn a_thread_dump_shows_a_bridged_wait_as_a_future() {
    greenloop::run(|| {
        let _waiter = greenloop::spawn_named("bridged", || tokio_sleep(2000));
        greenloop::sleep(Duration::from_millis(100));
        let list = greenloop::inspect::threads();
        let t = list.iter().find(|t| t.label.as_deref() == Some("bridged")).expect("the waiter is listed");
        assert_eq!(t.state, ThreadState::Parked, "{t:?}");
        assert_eq!(t.waiting_on, Some(WaitReason::Future), "{t:?}");
        assert_eq!(WaitReason::Future.as_str(), "future");
    });
}

fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string())).unwrap_or_default()
}

#[test]
fn a_shut_down_runtime_fails_bridged_calls_instead_of_hanging() {
    let tokio = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let handle = tokio.handle().clone();
    let rt = greenloop::Builder::new().tokio_handle(handle).build().unwrap();
    let (pending, after) = rt.run(move || {
        // A call waiting when the runtime goes away, then one made afterwards.
        let waiting = greenloop::spawn(|| greenloop::catch_unwind(|| tokio_sleep(30_000)));
        greenloop::sleep(Duration::from_millis(50));
        let start = Instant::now();
        greenloop::offload(move || tokio.shutdown_timeout(Duration::from_secs(1)));
        let pending = greenloop::timeout(Duration::from_secs(10), || waiting.join().unwrap())
            .expect("a call pending at shutdown hung");
        assert!(start.elapsed() < Duration::from_secs(5));
        let after = greenloop::timeout(Duration::from_secs(10), || greenloop::catch_unwind(|| tokio_sleep(10)))
            .expect("a call after shutdown hung");
        (pending.map_err(|p| panic_text(&*p)), after.map_err(|p| panic_text(&*p)))
    });
    for outcome in [pending, after] {
        let message = outcome.expect_err("a sleep on a shut-down runtime cannot succeed");
        assert!(message.contains("shutdown") || message.contains("shut down"), "unclear message: {message}");
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::new_with_config(
        ureq::Agent::config_builder().http_status_as_error(false).timeout_global(Some(Duration::from_secs(20))).build(),
    )
}

fn app() -> Router {
    Router::new()
        .route(
            "/panic",
            get(|_req: Request| -> &'static str {
                greenloop::block_on(async {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    panic!("the library failed");
                })
            }),
        )
        .route(
            "/sleep",
            get(|_req: Request| {
                tokio_sleep(500);
                "slept"
            }),
        )
        .route(
            "/spawn",
            get(|_req: Request| {
                greenloop::block_on(async {
                    tokio::spawn(async { std::thread::current().name().unwrap_or_default().to_owned() }).await.unwrap()
                })
            }),
        )
        .route("/health", get(|_req: Request| Response::new("ok".into())))
        .route(
            "/direct",
            get(|_req: Request| {
                // As users write it: the futures made in the handler, outside any async block.
                greenloop::block_on(tokio::time::sleep(Duration::from_millis(300)));
                let task = tokio::spawn(async { std::thread::current().name().unwrap_or_default().to_owned() });
                greenloop::block_on(task).unwrap()
            }),
        )
}

#[test]
fn a_handler_makes_tokio_futures_and_spawns_directly() {
    let server = Server::bind("127.0.0.1:0").handle_signals(false).workers(1).start(app()).unwrap();
    let base = format!("http://{}", server.local_addr().unwrap());
    // Ten at once on one worker: the sleeps overlap, and the worker answers meanwhile.
    let start = Instant::now();
    let calls: Vec<_> = (0..10)
        .map(|_| {
            let url = format!("{base}/direct");
            std::thread::spawn(move || {
                let mut r = agent().get(&url).call().unwrap();
                (r.status().as_u16(), r.body_mut().read_to_string().unwrap())
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(100));
    let t = Instant::now();
    let r = agent().get(&format!("{base}/health")).call().unwrap();
    assert_eq!(r.status(), 200);
    assert!(t.elapsed() < Duration::from_millis(250), "/health took {:?} during the sleeps", t.elapsed());
    for c in calls {
        assert_eq!(c.join().unwrap(), (200, "greenloop-tokio".to_owned()));
    }
    let took = start.elapsed();
    assert!(took < Duration::from_millis(2000), "10 × 300 ms took {took:?}: they ran one by one");
    server.stop().unwrap();
}

#[test]
fn a_panicking_library_future_answers_500_and_the_worker_lives() {
    let server = Server::bind("127.0.0.1:0").handle_signals(false).start(app()).unwrap();
    let base = format!("http://{}", server.local_addr().unwrap());
    let agent = agent();
    let r = agent.get(&format!("{base}/panic")).call().unwrap();
    assert_eq!(r.status(), 500);
    for _ in 0..3 {
        let mut r = agent.get(&format!("{base}/sleep")).call().unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.body_mut().read_to_string().unwrap(), "slept");
    }
    server.stop().unwrap();
}

#[test]
fn graceful_shutdown_waits_for_a_bridged_call() {
    let server = Server::bind("127.0.0.1:0").handle_signals(false).start(app()).unwrap();
    let base = format!("http://{}", server.local_addr().unwrap());
    let request = std::thread::spawn(move || {
        let mut r = agent().get(&format!("{base}/sleep")).call().unwrap();
        (r.status(), r.body_mut().read_to_string().unwrap())
    });
    std::thread::sleep(Duration::from_millis(200));
    server.stop().unwrap();
    let (status, body) = request.join().unwrap();
    assert_eq!((status.as_u16(), body.as_str()), (200, "slept"));
}

#[test]
fn a_servers_own_tokio_runtime_runs_the_spawned_tasks() {
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("app-tokio")
        .enable_all()
        .build()
        .unwrap();
    let server =
        Server::bind("127.0.0.1:0").handle_signals(false).tokio_handle(tokio.handle().clone()).start(app()).unwrap();
    let base = format!("http://{}", server.local_addr().unwrap());
    let mut r = agent().get(&format!("{base}/spawn")).call().unwrap();
    assert_eq!(r.body_mut().read_to_string().unwrap(), "app-tokio");
    server.stop().unwrap();
}

#[test]
fn a_loop_driving_its_own_tokio_runtime_runs_bridged_calls_and_spawned_tasks_on_its_thread() {
    let rt = greenloop::Builder::new().tokio_on_loop(true).build().unwrap();
    let here = std::thread::current().id();
    rt.run(move || {
        // Twenty 300 ms tokio sleeps overlap, while a green timer keeps its pace.
        let start = Instant::now();
        let ticker = greenloop::spawn(green_timer_lateness);
        greenloop::join_all((0..20).map(|_| || greenloop::block_on(tokio::time::sleep(Duration::from_millis(300)))));
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(300) && took < Duration::from_millis(1500), "{took:?}");
        assert!(ticker.join().unwrap() < Duration::from_millis(100));
        // Spawned tasks run on the loop's own thread.
        let task = tokio::spawn(async { std::thread::current().id() });
        assert_eq!(greenloop::block_on(task).unwrap(), here);
        // tokio sockets, woken by the loop's own epoll_wait.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            use std::io::Write;
            let (mut s, _) = listener.accept().unwrap();
            std::thread::sleep(Duration::from_millis(50));
            s.write_all(b"hi").unwrap();
        });
        let got = greenloop::block_on(async {
            use tokio::io::AsyncReadExt;
            let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
            let mut buf = Vec::new();
            s.read_to_end(&mut buf).await.unwrap();
            buf
        });
        assert_eq!(got, b"hi");
        server.join().unwrap();
    });
}

/// Twenty 10 ms green sleeps on the caller's loop: the longest any of them
/// took (near 10 ms when nothing holds the loop).
fn green_timer_lateness() -> Duration {
    let mut late = Duration::ZERO;
    for _ in 0..20 {
        let at = Instant::now();
        greenloop::sleep(Duration::from_millis(10));
        late = late.max(at.elapsed());
    }
    late
}
