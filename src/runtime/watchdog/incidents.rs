//! The last few blocking incidents of the process, with their stacks, for
//! status pages ([`recent_incidents`]).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

/// How many incidents [`recent_incidents`] keeps.
const KEPT: usize = 32;

/// One time a green thread held its loop past the watchdog's threshold.
#[derive(Clone, Debug)]
pub struct Incident {
    /// Numbered from 1 in the order they were seen, process-wide.
    pub seq: u64,
    /// When the watchdog reported it.
    pub at: SystemTime,
    /// The loop's OS thread.
    pub thread: String,
    /// The green thread: `#id 'label'` (escaped).
    pub task: String,
    /// How long it held the loop; `None` while it still does.
    pub held: Option<Duration>,
    /// The blocking line, one-line form (`std::thread::sleep <- app::f (src/app.rs:9) <- ...`),
    /// once symbolised; `None` if no stack could be captured (yet).
    pub stack: Option<String>,
    /// Every frame of that stack, one per line.
    pub frames: Option<String>,
    /// What to use instead, when the stack runs through a crate known to
    /// block (`reqwest::blocking`, the sync `postgres` or `redis` client...).
    pub hint: Option<&'static str>,
}

static RECENT: Mutex<VecDeque<Incident>> = Mutex::new(VecDeque::new());

/// The most recent blocking incidents (at most 32), oldest first: what a
/// status page shows. Reports go to the log as they happen too.
pub fn recent_incidents() -> Vec<Incident> {
    RECENT.lock().unwrap_or_else(|e| e.into_inner()).iter().cloned().collect()
}

pub(crate) fn record(thread: &str, task: &str) -> u64 {
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut recent = RECENT.lock().unwrap_or_else(|e| e.into_inner());
    if recent.len() == KEPT {
        recent.pop_front();
    }
    recent.push_back(Incident {
        seq,
        at: SystemTime::now(),
        thread: thread.to_owned(),
        task: task.to_owned(),
        held: None,
        stack: None,
        frames: None,
        hint: None,
    });
    seq
}

pub(crate) fn update(seq: u64, f: impl FnOnce(&mut Incident)) {
    let mut recent = RECENT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(i) = recent.iter_mut().find(|i| i.seq == seq) {
        f(i);
    }
}
