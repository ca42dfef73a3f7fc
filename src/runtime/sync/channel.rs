//! Multi-producer, single-consumer channels (std's `mpsc` shape), bounded
//! or unbounded. A full `send` or an empty `recv` parks the green thread.
//! `Sender` is `Send + Clone`: plain OS threads can feed a green thread.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex as StdMutex};
use std::time::{Duration, Instant};

use super::lock::lock;
use crate::park::{self, Unparker, Wake};

pub use std::sync::mpsc::{RecvError, RecvTimeoutError, SendError, TryRecvError, TrySendError};

struct State<T> {
    queue: VecDeque<T>,
    capacity: Option<usize>,
    senders: usize,
    receiver_alive: bool,
    receiver: Option<Unparker>,
    blocked_senders: VecDeque<Unparker>,
}

struct Chan<T> {
    state: StdMutex<State<T>>,
}

/// The sending half. Clone it for more producers.
pub struct Sender<T> {
    chan: Arc<Chan<T>>,
}

/// The receiving half (one consumer).
pub struct Receiver<T> {
    chan: Arc<Chan<T>>,
}

fn new<T>(capacity: Option<usize>) -> (Sender<T>, Receiver<T>) {
    let chan = Arc::new(Chan {
        state: StdMutex::new(State {
            queue: VecDeque::new(),
            capacity,
            senders: 1,
            receiver_alive: true,
            receiver: None,
            blocked_senders: VecDeque::new(),
        }),
    });
    (Sender { chan: chan.clone() }, Receiver { chan })
}

/// A channel with no bound: `send` never waits.
pub fn unbounded<T>() -> (Sender<T>, Receiver<T>) {
    new(None)
}

/// A channel holding at most `capacity` messages (at least 1): `send` parks while it is full.
///
/// ```
/// let got = greenloop::run(|| {
///     let (tx, rx) = greenloop::sync::channel::bounded(1);
///     greenloop::spawn(move || for i in 0..3 { tx.send(i).unwrap(); });
///     rx.iter().collect::<Vec<_>>()
/// });
/// assert_eq!(got, vec![0, 1, 2]);
/// ```
pub fn bounded<T>(capacity: usize) -> (Sender<T>, Receiver<T>) {
    new(Some(capacity.max(1)))
}

impl<T> Sender<T> {
    /// Sends, parking while a bounded channel is full. Fails (returning the
    /// value) once the receiver is gone.
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        let mut value = value;
        loop {
            match self.try_send(value) {
                Ok(()) => return Ok(()),
                Err(TrySendError::Disconnected(v)) => return Err(SendError(v)),
                Err(TrySendError::Full(v)) => {
                    value = v;
                    {
                        let mut s = lock(&self.chan.state);
                        if s.capacity.is_some_and(|c| s.queue.len() >= c) && s.receiver_alive {
                            s.blocked_senders.push_back(park::unparker());
                        } else {
                            continue;
                        }
                    }
                    if park::park_deadline_for(None, crate::runtime::thread_info::WaitReason::Channel) == Wake::TimedOut
                    {
                        crate::runtime::park::raise_elapsed();
                    }
                }
            }
        }
    }

    /// Sends if there is room now.
    pub fn try_send(&self, value: T) -> Result<(), TrySendError<T>> {
        let receiver = {
            let mut s = lock(&self.chan.state);
            if !s.receiver_alive {
                return Err(TrySendError::Disconnected(value));
            }
            if s.capacity.is_some_and(|c| s.queue.len() >= c) {
                return Err(TrySendError::Full(value));
            }
            s.queue.push_back(value);
            s.receiver.take()
        };
        if let Some(r) = receiver {
            r.unpark();
        }
        Ok(())
    }
}

impl<T> Clone for Sender<T> {
    fn clone(&self) -> Self {
        lock(&self.chan.state).senders += 1;
        Sender { chan: self.chan.clone() }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let receiver = {
            let mut s = lock(&self.chan.state);
            s.senders -= 1;
            if s.senders == 0 { s.receiver.take() } else { None }
        };
        if let Some(r) = receiver {
            r.unpark();
        }
    }
}

impl<T> Receiver<T> {
    /// Receives, parking while the channel is empty. Fails once it is empty
    /// and every sender is gone.
    pub fn recv(&self) -> Result<T, RecvError> {
        match self.recv_deadline(None) {
            Ok(v) => Ok(v),
            Err(RecvTimeoutError::Disconnected) => Err(RecvError),
            Err(RecvTimeoutError::Timeout) => crate::runtime::park::raise_elapsed(),
        }
    }

    /// Receives, waiting at most `timeout`.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        self.recv_deadline(Instant::now().checked_add(timeout))
    }

    /// Receives if a message is there now.
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        let (value, senders) = {
            let mut s = lock(&self.chan.state);
            match s.queue.pop_front() {
                Some(v) => {
                    // Our own entry, if a wait left one, is stale now.
                    s.receiver = None;
                    // Wake every blocked sender, not one: an entry may be
                    // stale (its sender timed out, or woke spuriously and
                    // queued again), and waking only a stale one would leave
                    // a live sender parked beside free room. Each retries and
                    // queues again if the channel refilled.
                    (v, std::mem::take(&mut s.blocked_senders))
                }
                None if s.senders == 0 => return Err(TryRecvError::Disconnected),
                None => return Err(TryRecvError::Empty),
            }
        };
        for w in senders {
            w.unpark();
        }
        Ok(value)
    }

    fn recv_deadline(&self, deadline: Option<Instant>) -> Result<T, RecvTimeoutError> {
        loop {
            match self.try_recv() {
                Ok(v) => {
                    // A channel that is never empty must not let its
                    // receiver hold the loop: spend the cooperative budget.
                    if let Some(c) = crate::runtime::core::try_core() {
                        c.spend();
                    }
                    return Ok(v);
                }
                Err(TryRecvError::Disconnected) => return Err(RecvTimeoutError::Disconnected),
                Err(TryRecvError::Empty) => {}
            }
            {
                let mut s = lock(&self.chan.state);
                if !s.queue.is_empty() || s.senders == 0 {
                    continue;
                }
                s.receiver = Some(park::unparker());
            }
            if park::park_deadline_for(deadline, crate::runtime::thread_info::WaitReason::Channel) == Wake::TimedOut {
                lock(&self.chan.state).receiver = None;
                return match self.try_recv() {
                    Ok(v) => Ok(v),
                    Err(TryRecvError::Disconnected) => Err(RecvTimeoutError::Disconnected),
                    Err(TryRecvError::Empty) => Err(RecvTimeoutError::Timeout),
                };
            }
        }
    }

    /// Messages as they arrive, until every sender is gone.
    pub fn iter(&self) -> Iter<'_, T> {
        Iter { rx: self }
    }

    /// Messages queued now, without waiting.
    pub fn len(&self) -> usize {
        lock(&self.chan.state).queue.len()
    }

    /// Whether no message is queued now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        let (blocked, queued) = {
            let mut s = lock(&self.chan.state);
            s.receiver_alive = false;
            (std::mem::take(&mut s.blocked_senders), std::mem::take(&mut s.queue))
        };
        drop(queued);
        for w in blocked {
            w.unpark();
        }
    }
}

/// Blocking iterator over a [`Receiver`].
pub struct Iter<'a, T> {
    rx: &'a Receiver<T>,
}

impl<T> fmt::Debug for Iter<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Iter").field("rx", self.rx).finish()
    }
}

impl<T> Iterator for Iter<'_, T> {
    type Item = T;
    fn next(&mut self) -> Option<T> {
        self.rx.recv().ok()
    }
}

impl<'a, T> IntoIterator for &'a Receiver<T> {
    type Item = T;
    type IntoIter = Iter<'a, T>;
    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sender { .. }")
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Receiver { .. }")
    }
}
