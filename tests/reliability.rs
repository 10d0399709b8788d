//! The reliability suites: one integration binary (ripgrep style), one
//! module per promise of SPEC.md §6.6. Every suite is seeded and
//! deterministic apart from process scheduling; a failure prints the seed.
//!
//! `cargo test --test reliability` runs the default sizes (a few minutes of
//! CI at most, debug build). `NIDUS_SOAK=<factor>` multiplies every count
//! (kills, fault modes, mutated files, reader/writer iterations), and
//! `NIDUS_SEED=<n>` moves every seed; see README.md "Reliability tests".
//!
//! Child processes are this same binary run again (`support::child_entry`,
//! an `#[ignore]`d test that does nothing unless `NIDUS_RELIABILITY_ROLE`
//! names a role), so the suites need neither the CLI nor a helper binary.

/// Seeded RNG, scaling, temp dirs, child processes and the line protocol.
#[path = "reliability/support.rs"]
mod support;

/// The reference model (a BTreeMap and brute-force f64 scoring) and the
/// model check: random operations, reopen and compaction, compared call
/// for call with the store.
#[path = "reliability/model.rs"]
mod model;

/// SIGKILL a writer process at seeded moments (mid-write, mid-sync,
/// mid-compaction); every acknowledged batch survives, none is partial.
#[path = "reliability/crash.rs"]
mod crash;

/// Simulated power cuts through the I/O seam: only synced bytes and synced
/// directory entries survive; every acknowledged call must.
#[path = "reliability/power.rs"]
mod power;

/// ENOSPC/EIO injected at every write, sync, truncate, rename and read of
/// every write call, compaction and open; nothing changes on a failed call.
#[path = "reliability/faults.rs"]
mod faults;

/// A seeded mutation fuzzer over real store files: no panic, hang or
/// over-allocation; damage is a torn tail or an error with its offset.
#[path = "reliability/hostile.rs"]
mod hostile;

/// A writer process with reader processes beside it, and in-process
/// searchers beside a writer thread: readers only ever see whole batches.
#[path = "reliability/concurrency.rs"]
mod concurrency;

/// Writer exclusion between processes, and takeover of a killed writer's
/// lock.
#[path = "reliability/locks.rs"]
mod locks;
