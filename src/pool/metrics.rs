//! Each pool's gauges, registered process-wide, and the Prometheus text
//! the metrics page shows of them.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, Weak};

/// One pool's published counts, read by the metrics page from any thread.
pub(super) struct Gauges {
    pub(super) name: Arc<str>,
    pub(super) max: u64,
    pub(super) in_use: AtomicU64,
    pub(super) idle: AtomicU64,
    pub(super) waiting: AtomicU64,
    pub(super) opened: AtomicU64,
    pub(super) discarded: AtomicU64,
    pub(super) timeouts: AtomicU64,
}

/// Every live pool's gauges in the process (locked only to add a pool or
/// to render the metrics page; never on a connection's path).
pub(super) fn registry() -> &'static Mutex<Vec<Weak<Gauges>>> {
    static REGISTRY: Mutex<Vec<Weak<Gauges>>> = Mutex::new(Vec::new());
    &REGISTRY
}

/// Appends every pool's counts, summed per pool name over the workers, in
/// the Prometheus text format (nothing when no pool exists).
pub(crate) fn write_metrics(out: &mut String) {
    use std::fmt::Write;
    let mut sums: Vec<(Arc<str>, [u64; 7])> = Vec::new();
    {
        let mut reg = registry().lock().unwrap_or_else(|e| e.into_inner());
        reg.retain(|w| w.strong_count() > 0);
        for g in reg.iter().filter_map(Weak::upgrade) {
            let v = [
                g.in_use.load(Relaxed),
                g.idle.load(Relaxed),
                g.waiting.load(Relaxed),
                g.max,
                g.opened.load(Relaxed),
                g.discarded.load(Relaxed),
                g.timeouts.load(Relaxed),
            ];
            match sums.iter_mut().find(|(n, _)| *n == g.name) {
                Some((_, s)) => s.iter_mut().zip(v).for_each(|(a, b)| *a += b),
                None => sums.push((g.name.clone(), v)),
            }
        }
    }
    if sums.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "# HELP greenloop_pool_connections Pooled connections by state (in_use, idle), summed over workers.\n\
         # TYPE greenloop_pool_connections gauge"
    );
    for (name, v) in &sums {
        let _ = writeln!(out, "greenloop_pool_connections{{pool=\"{name}\",state=\"in_use\"}} {}", v[0]);
        let _ = writeln!(out, "greenloop_pool_connections{{pool=\"{name}\",state=\"idle\"}} {}", v[1]);
    }
    let series: [(&str, &str, &str, usize); 5] = [
        ("greenloop_pool_waiting", "gauge", "Green threads waiting for a pooled connection.", 2),
        ("greenloop_pool_max_connections", "gauge", "Pool size limit, summed over workers.", 3),
        ("greenloop_pool_opened_total", "counter", "Connections the pool opened.", 4),
        ("greenloop_pool_discarded_total", "counter", "Broken connections the pool closed.", 5),
        ("greenloop_pool_timeouts_total", "counter", "Checkouts that gave up after the acquire timeout.", 6),
    ];
    for (metric, kind, help, i) in series {
        let _ = writeln!(out, "# HELP {metric} {help}\n# TYPE {metric} {kind}");
        for (name, v) in &sums {
            let _ = writeln!(out, "{metric}{{pool=\"{name}\"}} {}", v[i]);
        }
    }
}
