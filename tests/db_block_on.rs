//! `block_on` and tokio's async I/O traits on green sockets.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// A future that becomes ready once another OS thread says so.
struct Remote {
    done: Arc<AtomicBool>,
    waker: Arc<std::sync::Mutex<Option<Waker>>>,
    started: bool,
    delay: Duration,
}

impl Remote {
    fn new(delay: Duration) -> Remote {
        Remote { done: Arc::default(), waker: Arc::default(), started: false, delay }
    }
}

impl Future for Remote {
    type Output = &'static str;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<&'static str> {
        if self.done.load(Ordering::Acquire) {
            return Poll::Ready("woken from another thread");
        }
        *self.waker.lock().unwrap() = Some(cx.waker().clone());
        if !self.started {
            self.started = true;
            let (done, waker, delay) = (self.done.clone(), self.waker.clone(), self.delay);
            std::thread::spawn(move || {
                std::thread::sleep(delay);
                done.store(true, Ordering::Release);
                if let Some(w) = waker.lock().unwrap().take() {
                    w.wake();
                }
            });
        }
        Poll::Pending
    }
}

#[test]
fn block_on_parks_only_its_green_thread() {
    greenloop::run(|| {
        assert_eq!(greenloop::block_on(async { 6 * 7 }), 42);
        let start = Instant::now();
        let ticker = greenloop::spawn(move || {
            for _ in 0..10 {
                greenloop::sleep(Duration::from_millis(10));
            }
            start.elapsed()
        });
        let out = greenloop::block_on(Remote::new(Duration::from_millis(200)));
        assert_eq!(out, "woken from another thread");
        // The ticker ran its ten sleeps while block_on waited.
        assert!(ticker.join().unwrap() < Duration::from_millis(190));
    });
}

/// Pending `n` times, waking itself each time (how async code yields).
struct YieldTimes(u32);

impl Future for YieldTimes {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 == 0 {
            return Poll::Ready(());
        }
        self.0 -= 1;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[test]
fn a_future_that_wakes_itself_lets_others_run() {
    greenloop::run(|| {
        let ticks = std::rc::Rc::new(std::cell::Cell::new(0));
        let t = ticks.clone();
        let other = greenloop::spawn(move || {
            for _ in 0..3 {
                t.set(t.get() + 1);
                greenloop::yield_now();
            }
        });
        greenloop::block_on(YieldTimes(3));
        // Each of block_on's self-wakes let the other green thread take a turn.
        assert!(ticks.get() >= 3, "the other green thread ran {} times", ticks.get());
        other.join().unwrap();
    });
}

#[test]
fn block_on_outside_a_green_thread_parks_the_os_thread() {
    let start = Instant::now();
    assert_eq!(greenloop::block_on(Remote::new(Duration::from_millis(50))), "woken from another thread");
    assert!(start.elapsed() >= Duration::from_millis(50));
}

#[test]
fn timeout_bounds_a_future_that_never_wakes() {
    greenloop::run(|| {
        let r = greenloop::timeout(Duration::from_millis(50), || greenloop::block_on(std::future::pending::<()>()));
        assert!(r.is_err());
    });
}

#[cfg(feature = "tokio-io")]
mod async_io {
    use super::*;
    use greenloop::net::{TcpListener, TcpStream, UnixStream};
    use std::io::Write;
    use std::task::Wake;
    use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

    /// Reads until `n` bytes came, through `AsyncRead` only.
    async fn read_n<S: AsyncRead + Unpin>(s: &mut S, n: usize) -> Vec<u8> {
        let mut out = Vec::new();
        let mut chunk = [0u8; 4096];
        while out.len() < n {
            let got = std::future::poll_fn(|cx| {
                let mut buf = ReadBuf::new(&mut chunk);
                match Pin::new(&mut *s).poll_read(cx, &mut buf) {
                    Poll::Ready(Ok(())) => Poll::Ready(buf.filled().len()),
                    Poll::Ready(Err(e)) => panic!("read failed: {e}"),
                    Poll::Pending => Poll::Pending,
                }
            })
            .await;
            assert!(got > 0, "early EOF after {} bytes", out.len());
            out.extend_from_slice(&chunk[..got]);
        }
        out
    }

    async fn write_all<S: AsyncWrite + Unpin>(s: &mut S, mut data: &[u8]) {
        while !data.is_empty() {
            let n = std::future::poll_fn(|cx| Pin::new(&mut *s).poll_write(cx, data)).await.unwrap();
            data = &data[n..];
        }
    }

    #[test]
    fn two_green_threads_each_await_their_own_socket() {
        greenloop::run(|| {
            let (mut a, a_peer) = UnixStream::pair().unwrap();
            let (mut b, b_peer) = UnixStream::pair().unwrap();
            let start = Instant::now();
            let ra = greenloop::spawn(move || (greenloop::block_on(read_n(&mut a, 5)), start.elapsed()));
            let rb = greenloop::spawn(move || (greenloop::block_on(read_n(&mut b, 5)), start.elapsed()));
            // The writers answer b first, then a: each reader wakes on its own socket.
            greenloop::sleep(Duration::from_millis(50));
            (&b_peer).write_all(b"bbbbb").unwrap();
            greenloop::sleep(Duration::from_millis(100));
            (&a_peer).write_all(b"aaaaa").unwrap();
            let (got_a, at_a) = ra.join().unwrap();
            let (got_b, at_b) = rb.join().unwrap();
            assert_eq!((got_a.as_slice(), got_b.as_slice()), (&b"aaaaa"[..], &b"bbbbb"[..]));
            assert!(at_b < at_a && at_b < Duration::from_millis(140), "{at_b:?} {at_a:?}");
        });
    }

    /// Polls its inner future with a waker of its own and re-polls only
    /// when that waker fired, as `FuturesUnordered` and `select!` do.
    struct OwnWaker<F> {
        inner: Pin<Box<F>>,
        fired: Arc<Fired>,
    }

    struct Fired {
        flag: AtomicBool,
        outer: std::sync::Mutex<Option<Waker>>,
    }

    impl Wake for Fired {
        fn wake(self: Arc<Self>) {
            self.flag.store(true, Ordering::Release);
            if let Some(w) = self.outer.lock().unwrap().take() {
                w.wake();
            }
        }
    }

    impl<F: Future> Future for OwnWaker<F> {
        type Output = F::Output;
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
            *self.fired.outer.lock().unwrap() = Some(cx.waker().clone());
            if !self.fired.flag.swap(false, Ordering::AcqRel) {
                return Poll::Pending;
            }
            let waker = Waker::from(self.fired.clone());
            self.inner.as_mut().poll(&mut Context::from_waker(&waker))
        }
    }

    #[test]
    fn the_waker_in_the_context_is_the_one_woken() {
        greenloop::run(|| {
            let (mut a, peer) = UnixStream::pair().unwrap();
            let writer = greenloop::spawn(move || {
                greenloop::sleep(Duration::from_millis(30));
                (&peer).write_all(b"hello").unwrap();
                peer
            });
            let fired = Arc::new(Fired { flag: AtomicBool::new(true), outer: Default::default() });
            let got = greenloop::timeout(Duration::from_secs(5), || {
                greenloop::block_on(OwnWaker { inner: Box::pin(read_n(&mut a, 5)), fired })
            })
            .expect("the combinator's waker was never woken");
            assert_eq!(got, b"hello");
            writer.join().unwrap();
        });
    }

    #[test]
    fn tcp_writes_wait_for_room_and_reads_for_data() {
        greenloop::run(|| {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let addr = listener.local_addr().unwrap();
            const N: usize = 8 * 1024 * 1024; // more than the socket buffers hold
            let server = greenloop::spawn(move || {
                let (mut s, _) = listener.accept().unwrap();
                greenloop::block_on(read_n(&mut s, N)).len()
            });
            let mut c = TcpStream::connect(addr).unwrap();
            let data = vec![7u8; N];
            greenloop::block_on(write_all(&mut c, &data));
            assert_eq!(server.join().unwrap(), N);
        });
    }

    #[test]
    fn a_dropped_socket_does_not_leave_a_waiter_behind() {
        greenloop::run(|| {
            for _ in 0..100 {
                let (mut a, _peer) = UnixStream::pair().unwrap();
                // Pending once (arms a watcher), then dropped with its future.
                let r = greenloop::timeout(Duration::from_millis(1), || greenloop::block_on(read_n(&mut a, 1)));
                assert!(r.is_err());
            }
            greenloop::sleep(Duration::from_millis(10));
            let stats = greenloop::inspect::loop_stats().unwrap();
            assert!(stats.green_threads <= 2, "watchers left parked: {}", stats.green_threads);
        });
    }
}
