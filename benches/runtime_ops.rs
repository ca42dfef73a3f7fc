//! The runtime micro-operations of `benches/runtime.rs`, run a given number
//! of times without a timing harness, for `benches/scripts/callgrind_runtime.sh`
//! to count their instructions (a figure a noisy VM does not move).
//!
//! `cargo bench --bench runtime_ops -- OP N` with OP one of `yield`,
//! `park`, `spawn`, `channel`, `block_on`; N = 0 measures the fixed start-up cost.
//! With the `tracing` feature, `yield_in_span` yields inside an entered span
//! (the span is exited and entered again at every switch), and
//! `TRACING_SUBSCRIBER=1` sets tracing-subscriber's `Registry` as the
//! subscriber first: what the per-green-thread span slot costs.

use greenloop::Runtime;

mod ops;

fn main() {
    // `cargo bench` adds `--bench`: keep only our own arguments.
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--")).collect();
    let (Some(op), Some(n)) = (args.first(), args.get(1).and_then(|n| n.parse::<u64>().ok())) else {
        eprintln!("usage: runtime_ops yield|park|spawn|channel|block_on N");
        std::process::exit(2);
    };
    let run: fn(u64) = match op.as_str() {
        "yield" => ops::yields,
        "park" => ops::park_unparks,
        "spawn" => ops::spawn_joins,
        "channel" => ops::channel_ping_pongs,
        "block_on" => ops::ready_block_ons,
        #[cfg(feature = "tracing")]
        "yield_in_span" => |n| {
            let span = tracing::info_span!("bench");
            let _entered = span.enter();
            ops::yields(n)
        },
        other => {
            eprintln!("unknown operation {other:?}");
            std::process::exit(2);
        }
    };
    #[cfg(feature = "tracing")]
    if std::env::var_os("TRACING_SUBSCRIBER").is_some() {
        tracing::subscriber::set_global_default(tracing_subscriber::registry()).expect("first subscriber");
    }
    Runtime::new().expect("runtime").run(move || run(n));
}
