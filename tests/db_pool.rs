//! The green pool, generic over what it pools: here, connected Unix socket
//! pairs, checked by sending a byte across.

use std::cell::{Cell, RefCell};
use std::io::{Read, Write};
use std::rc::Rc;
use std::time::{Duration, Instant};

use greenloop::net::UnixStream;
use greenloop::pool::{Manager, PoolError, builder};

#[derive(Debug)]
struct Pair {
    near: UnixStream,
    far: Option<UnixStream>,
    id: usize,
    broken: bool,
}

#[derive(Default)]
struct Pairs {
    opened: Cell<usize>,
    checks: Cell<usize>,
    refuse: Cell<bool>,
    /// How long opening one takes.
    delay: Cell<Duration>,
}

impl Manager for Pairs {
    type Connection = Pair;
    type Error = String;

    fn connect(&self) -> Result<Pair, String> {
        if !self.delay.get().is_zero() {
            greenloop::sleep(self.delay.get());
        }
        if self.refuse.get() {
            return Err("refused on purpose".into());
        }
        let (near, far) = UnixStream::pair().map_err(|e| e.to_string())?;
        self.opened.set(self.opened.get() + 1);
        Ok(Pair { near, far: Some(far), id: self.opened.get(), broken: false })
    }

    fn check(&self, p: &mut Pair) -> Result<(), String> {
        self.checks.set(self.checks.get() + 1);
        let far = p.far.as_ref().ok_or("the far end is closed")?;
        (&p.near).write_all(b"?").map_err(|e| e.to_string())?;
        let mut b = [0u8; 1];
        (&*far).read_exact(&mut b).map_err(|e| e.to_string())
    }

    fn is_broken(&self, p: &mut Pair) -> bool {
        p.broken
    }
}

#[test]
fn waiters_are_served_first_come_first_served() {
    greenloop::run(|| {
        let pool = builder().max_size(1).build(Pairs::default());
        let held = pool.get().unwrap();
        let order = Rc::new(RefCell::new(Vec::new()));
        let waiters: Vec<_> = (0..3)
            .map(|i| {
                let (pool, order) = (pool.clone(), order.clone());
                greenloop::spawn(move || {
                    let c = pool.get().unwrap();
                    order.borrow_mut().push((i, c.id));
                    greenloop::sleep(Duration::from_millis(5));
                })
            })
            .collect();
        greenloop::sleep(Duration::from_millis(20));
        assert_eq!(pool.waiting(), 3);
        drop(held);
        // A newcomer arriving now queues behind them instead of taking the connection.
        let late = pool.get().unwrap();
        order.borrow_mut().push((3, late.id));
        drop(late);
        waiters.into_iter().for_each(|w| w.join().unwrap());
        assert_eq!(*order.borrow(), vec![(0, 1), (1, 1), (2, 1), (3, 1)]);
        assert_eq!(pool.manager().opened.get(), 1);
    });
}

#[test]
fn min_idle_opens_in_the_background() {
    greenloop::run(|| {
        let pool = builder().max_size(5).min_idle(3).build(Pairs::default());
        greenloop::sleep(Duration::from_millis(10));
        assert_eq!((pool.idle(), pool.in_use()), (3, 0));
        let c = pool.get().unwrap();
        assert_eq!((pool.idle(), pool.in_use()), (2, 1));
        drop(c);
        assert_eq!(pool.manager().opened.get(), 3);
    });
}

#[test]
fn checkout_checks_idle_connections_and_replaces_dead_ones() {
    greenloop::run(|| {
        let pool = builder().max_size(2).check_after_idle(Duration::ZERO).build(Pairs::default());
        let mut c = pool.get().unwrap();
        assert_eq!(c.id, 1);
        c.far = None; // the peer hangs up while it sits idle
        drop(c);
        let c = pool.get().unwrap();
        assert_eq!(c.id, 2, "the dead one failed its check and was replaced");
        assert_eq!(pool.manager().checks.get(), 1);
        drop(c);
        assert_eq!(pool.get().unwrap().id, 2);
        assert_eq!(pool.manager().checks.get(), 2);
        // A long idle threshold skips the round trip.
        let pool = builder().check_after_idle(Duration::from_secs(60)).build(Pairs::default());
        drop(pool.get().unwrap());
        drop(pool.get().unwrap());
        assert_eq!(pool.manager().checks.get(), 0);
    });
}

#[test]
fn broken_connections_are_closed_and_their_room_goes_to_a_waiter() {
    greenloop::run(|| {
        let pool = builder().max_size(1).build(Pairs::default());
        let mut c = pool.get().unwrap();
        let p2 = pool.clone();
        let waiter = greenloop::spawn(move || p2.get().unwrap().id);
        greenloop::sleep(Duration::from_millis(5));
        c.broken = true;
        drop(c);
        assert_eq!(waiter.join().unwrap(), 2, "the waiter opened a fresh one");
        let c = pool.get().unwrap();
        c.discard();
        assert_eq!(pool.get().unwrap().id, 3);
        assert_eq!(pool.in_use() + pool.idle(), 1);
    });
}

#[test]
fn a_waiter_cut_short_leaves_the_queue() {
    greenloop::run(|| {
        let pool = builder().max_size(1).acquire_timeout(Duration::from_secs(60)).build(Pairs::default());
        let held = pool.get().unwrap();
        let start = Instant::now();
        let r = greenloop::timeout(Duration::from_millis(30), || pool.get().map(|c| c.id));
        assert!(r.is_err() || matches!(r, Ok(Err(PoolError::Timeout { .. }))));
        assert!(start.elapsed() < Duration::from_secs(1));
        assert_eq!(pool.waiting(), 0);
        drop(held);
        assert_eq!(pool.get().unwrap().id, 1, "the connection was not handed to the departed waiter");
    });
}

#[test]
fn failed_and_slow_connects_give_their_slot_back() {
    greenloop::run(|| {
        let pool = builder().max_size(1).acquire_timeout(Duration::from_millis(50)).build(Pairs::default());
        pool.manager().refuse.set(true);
        let e = pool.get().unwrap_err();
        assert_eq!(e.to_string(), "pool pool: refused on purpose");
        pool.manager().refuse.set(false);
        pool.manager().delay.set(Duration::from_secs(5));
        let start = Instant::now();
        assert!(matches!(pool.get(), Err(PoolError::Timeout { .. })), "a connect longer than the acquire timeout");
        assert!(start.elapsed() < Duration::from_millis(500));
        pool.manager().delay.set(Duration::ZERO);
        let c = pool.get().unwrap();
        assert_eq!((pool.in_use(), pool.idle(), pool.waiting()), (1, 0, 0), "{c:?}");
    });
}
