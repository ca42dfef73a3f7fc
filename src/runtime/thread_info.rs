//! What a green-thread dump ([`threads`](crate::inspect::threads)) says of
//! each green thread. Plain data, imported by every park site (each records
//! its [`WaitReason`]) and by the loop that lists its tasks, so it depends
//! on nothing else in the runtime.

use std::time::Duration;

/// What a parked green thread waits on: recorded by each park site (one
/// byte), shown by [`threads`](crate::inspect::threads).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
#[non_exhaustive]
pub enum WaitReason {
    /// A plain [`park`](crate::park::park) (code built on the park primitive directly).
    Park,
    /// A [`sleep`](crate::sleep) or other timer.
    Timer,
    /// A socket to become readable (or a listener to have a connection).
    Read,
    /// A socket to become writable (or a connect to complete).
    Write,
    /// A channel or oneshot message, or room in a bounded channel.
    Channel,
    /// A [`sync::Mutex`](crate::sync::Mutex).
    Lock,
    /// A [`sync::Semaphore`](crate::sync::Semaphore) permit.
    Semaphore,
    /// An [`offload`](crate::offload)ed call to finish.
    Offload,
    /// Another green thread to finish ([`JoinHandle::join`](crate::JoinHandle::join)).
    Join,
    /// A future run by [`block_on`](crate::block_on) to be woken: a call
    /// into an async library (with the `tokio` feature, often one waiting on
    /// tokio's reactor or timers, driven on tokio's own threads).
    Future,
}

impl WaitReason {
    /// The word the text dump shows: `timer`, `read`, `channel`...
    pub fn as_str(self) -> &'static str {
        match self {
            WaitReason::Park => "park",
            WaitReason::Timer => "timer",
            WaitReason::Read => "read",
            WaitReason::Write => "write",
            WaitReason::Channel => "channel",
            WaitReason::Lock => "lock",
            WaitReason::Semaphore => "semaphore",
            WaitReason::Offload => "offload",
            WaitReason::Join => "join",
            WaitReason::Future => "future",
        }
    }
}

/// Where a green thread is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThreadState {
    /// On the CPU: the one asking for the dump, or one holding its loop.
    Running,
    /// In its loop's run queue, ready to run.
    Ready,
    /// Suspended until something wakes it (see [`GreenThread::waiting_on`]).
    Parked,
}

impl ThreadState {
    /// `running`, `ready` or `parked`.
    pub fn as_str(self) -> &'static str {
        match self {
            ThreadState::Running => "running",
            ThreadState::Ready => "ready",
            ThreadState::Parked => "parked",
        }
    }
}

/// One green thread in a [`threads`](crate::inspect::threads) dump.
#[derive(Clone, Debug)]
pub struct GreenThread {
    /// The OS thread of its loop (a server worker: `greenloop-worker-N`).
    pub worker: String,
    /// Its id, unique per loop.
    pub id: u64,
    /// What it is called: its name (`spawn_named`) or watchdog label (the
    /// HTTP server's is the request being answered), if any.
    pub label: Option<String>,
    /// Running, ready or parked.
    pub state: ThreadState,
    /// What a parked one waits on.
    pub waiting_on: Option<WaitReason>,
    /// The descriptor of the socket a `Read`/`Write` wait is for.
    pub fd: Option<i32>,
    /// How long a parked one has been parked, by its loop's clock (which
    /// lags the true time by at most one turn of the loop).
    pub since: Option<Duration>,
}
