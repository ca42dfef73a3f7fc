//! A channel for exactly one value: the usual way to hand a result from a
//! callback, another green thread or another OS thread to a parked green thread.

use std::fmt;
use std::sync::{Arc, Mutex as StdMutex};
use std::time::{Duration, Instant};

use super::lock::lock;
use crate::park::{self, Unparker, Wake};

pub use std::sync::mpsc::{RecvError, RecvTimeoutError, TryRecvError};

struct State<T> {
    value: Option<T>,
    sender_alive: bool,
    receiver_alive: bool,
    waiter: Option<Unparker>,
}

/// Sends the one value.
pub struct Sender<T> {
    state: Arc<StdMutex<State<T>>>,
}

/// Receives the one value.
pub struct Receiver<T> {
    state: Arc<StdMutex<State<T>>>,
}

/// A new one-shot channel.
///
/// ```
/// use std::time::Duration;
/// let v = greenloop::run(|| {
///     let (tx, rx) = greenloop::sync::oneshot::channel();
///     // A callback fires later on the loop and hands back a result.
///     greenloop::call_later(Duration::from_millis(5), move || { let _ = tx.send("done"); });
///     rx.recv().unwrap()
/// });
/// assert_eq!(v, "done");
/// ```
pub fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let state = Arc::new(StdMutex::new(State { value: None, sender_alive: true, receiver_alive: true, waiter: None }));
    (Sender { state: state.clone() }, Receiver { state })
}

impl<T> Sender<T> {
    /// Sends the value; gives it back if the receiver is gone.
    pub fn send(self, value: T) -> Result<(), T> {
        let waiter = {
            let mut s = lock(&self.state);
            if !s.receiver_alive {
                return Err(value);
            }
            s.value = Some(value);
            s.waiter.take()
        };
        if let Some(w) = waiter {
            w.unpark();
        }
        Ok(())
    }

    /// Whether the receiver was dropped (no point computing the value).
    pub fn is_closed(&self) -> bool {
        !lock(&self.state).receiver_alive
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        let waiter = {
            let mut s = lock(&self.state);
            s.sender_alive = false;
            s.waiter.take()
        };
        if let Some(w) = waiter {
            w.unpark();
        }
    }
}

impl<T> Receiver<T> {
    /// Waits (parks) for the value; fails if the sender was dropped unsent.
    pub fn recv(self) -> Result<T, RecvError> {
        match self.recv_deadline(None) {
            Ok(v) => Ok(v),
            Err(RecvTimeoutError::Disconnected) => Err(RecvError),
            Err(RecvTimeoutError::Timeout) => crate::runtime::park::raise_elapsed(),
        }
    }

    /// Waits at most `timeout` for the value.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        self.recv_deadline(Instant::now().checked_add(timeout))
    }

    /// Takes the value if it is there.
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        let mut s = lock(&self.state);
        match s.value.take() {
            Some(v) => Ok(v),
            None if !s.sender_alive => Err(TryRecvError::Disconnected),
            None => Err(TryRecvError::Empty),
        }
    }

    fn recv_deadline(&self, deadline: Option<Instant>) -> Result<T, RecvTimeoutError> {
        loop {
            {
                let mut s = lock(&self.state);
                if let Some(v) = s.value.take() {
                    return Ok(v);
                }
                if !s.sender_alive {
                    return Err(RecvTimeoutError::Disconnected);
                }
                s.waiter = Some(park::unparker());
            }
            if park::park_deadline_for(deadline, crate::runtime::thread_info::WaitReason::Channel) == Wake::TimedOut {
                let mut s = lock(&self.state);
                s.waiter = None;
                return match s.value.take() {
                    Some(v) => Ok(v),
                    None if !s.sender_alive => Err(RecvTimeoutError::Disconnected),
                    None => Err(RecvTimeoutError::Timeout),
                };
            }
        }
    }
}

impl<T> Drop for Receiver<T> {
    fn drop(&mut self) {
        lock(&self.state).receiver_alive = false;
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("oneshot::Sender { .. }")
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("oneshot::Receiver { .. }")
    }
}
