//! Readers beside a writer (SPEC.md §6.4, §7.7). A writer appends batches,
//! deletes whole earlier batches, and compacts (explicitly and
//! automatically); readers refresh, reopen and search in a loop. Every
//! upsert batch `i` writes records whose attributes carry `batch = i` and
//! `count = <its size>`, and every delete removes a whole batch in one call,
//! so a reader can check what it sees:
//!
//! - every batch it sees is complete (`count` records, no more, no less);
//! - the set of batches equals the writer's state after some call `i` of
//!   the (seeded, known) schedule, and `i` never goes backwards;
//! - searches agree with that state (hits belong to visible batches; a
//!   filter on one batch finds exactly its records);
//! - nothing ever errors.
//!
//! Between processes: one writer process and three reader processes
//! (read-only opens with `refresh()`). In one process: searcher threads and
//! a writer thread sharing `Arc<RwLock<Store>>`, the documented pattern.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use nidus::{Filter, Options, Record, Search, Store, Value};

use super::support::{Rng, base_seed, emit, env, env_u64, soak, spawn_child, tempdir};

const DIM: usize = 8;
const COLLECTION: &str = "c";

/// One writer call.
#[derive(Debug, Clone)]
enum Call {
    /// Upsert batch `.0` of `.1` records.
    Upsert(u64, usize),
    /// Delete every record of batch `.0` (with its size `.1`).
    Delete(u64, usize),
    Compact,
}

/// The writer's calls and, for each, the live batches after it.
struct Schedule {
    calls: Vec<Call>,
    live_after: Vec<BTreeSet<u64>>,
}

fn schedule(seed: u64, len: usize) -> Schedule {
    let mut rng = Rng::new(seed);
    let mut live: BTreeMap<u64, usize> = BTreeMap::new();
    let mut calls = Vec::new();
    let mut live_after = Vec::new();
    for i in 0..len as u64 {
        let call = match rng.below(10) {
            _ if i + 1 == len as u64 => Call::Upsert(i, 1),
            0..=2 if live.len() > 2 => {
                let keys: Vec<u64> = live.keys().copied().collect();
                let b = *rng.pick(&keys);
                Call::Delete(b, live[&b])
            }
            3 if rng.chance(0.3) => Call::Compact,
            _ => Call::Upsert(
                i,
                if rng.chance(0.1) {
                    rng.range(200, 600)
                } else {
                    rng.range(1, 40)
                },
            ),
        };
        match call {
            Call::Upsert(b, n) => {
                live.insert(b, n);
            }
            Call::Delete(b, _) => {
                live.remove(&b);
            }
            Call::Compact => {}
        }
        calls.push(call);
        live_after.push(live.keys().copied().collect());
    }
    Schedule { calls, live_after }
}

fn ids(batch: u64, n: usize) -> Vec<String> {
    (0..n).map(|j| format!("b{batch}-{j}")).collect()
}

fn run_call(store: &mut Store, call: &Call) -> nidus::Result<()> {
    match *call {
        Call::Upsert(b, n) => {
            let mut rng = Rng::for_pair(b, 99);
            let recs: Vec<Record> = ids(b, n)
                .into_iter()
                .map(|id| {
                    let v: Vec<f32> = (0..DIM).map(|_| rng.unit_f32() + 0.001).collect();
                    Record::new(id, v)
                        .attr("batch", b as i64)
                        .attr("count", n as i64)
                })
                .collect();
            store.upsert(COLLECTION, &recs)
        }
        Call::Delete(b, n) => {
            let deleted = store.delete(COLLECTION, &ids(b, n))?;
            assert_eq!(deleted, n, "batch {b} was not whole in the writer");
            Ok(())
        }
        Call::Compact => store.compact(),
    }
}

/// Checks one store state; returns the schedule index it equals (`None`:
/// the state before the first call), which must be at least `from`.
fn verify(
    store: &Store,
    sched: &Schedule,
    from: Option<usize>,
    rng: &mut Rng,
) -> Result<Option<usize>, String> {
    if !store.has_collection(COLLECTION) {
        return if from.is_none() {
            Ok(None)
        } else {
            Err("the collection vanished".into())
        };
    }
    let mut seen: BTreeMap<u64, (usize, usize)> = BTreeMap::new();
    for r in store.records(COLLECTION).map_err(|e| e.to_string())? {
        let a = r.attrs();
        let (Some(Value::Int(b)), Some(Value::Int(n))) = (a.get("batch"), a.get("count")) else {
            return Err(format!("record {} lacks its batch attributes", r.id()));
        };
        let e = seen.entry(*b as u64).or_insert((0, *n as usize));
        e.0 += 1;
    }
    for (b, (got, want)) in &seen {
        if got != want {
            return Err(format!(
                "batch {b} is partly visible: {got} of {want} records"
            ));
        }
    }
    let set: BTreeSet<u64> = seen.keys().copied().collect();
    let start = from.map_or(0, |i| i);
    let Some(i) = (start..sched.live_after.len()).find(|&i| sched.live_after[i] == set) else {
        return Err(format!(
            "batches {set:?} are no state of the writer at or after call {start}"
        ));
    };
    // Searches agree with the state.
    let q: Vec<f32> = (0..DIM).map(|_| rng.unit_f32() + 0.01).collect();
    let hits = store
        .search(&q, Search::top(10))
        .map_err(|e| e.to_string())?;
    let total: usize = seen.values().map(|v| v.0).sum();
    if hits.len() != total.min(10) {
        return Err(format!(
            "search found {} hits of {total} records",
            hits.len()
        ));
    }
    for h in &hits {
        match h.attrs.get("batch") {
            Some(Value::Int(b)) if set.contains(&(*b as u64)) => {}
            other => return Err(format!("hit {} from batch {other:?}, not visible", h.id)),
        }
    }
    if let Some(&b) = set.iter().nth(rng.below(set.len().max(1))) {
        let n = seen[&b].0;
        let hits = store
            .search(
                &q,
                Search::top(1000)
                    .collection(COLLECTION)
                    .filter(Filter::eq("batch", b as i64)),
            )
            .map_err(|e| e.to_string())?;
        if hits.len() != n {
            return Err(format!("a filter on batch {b} found {} of {n}", hits.len()));
        }
    }
    Ok(Some(i))
}

fn writer_options() -> Options {
    Options::new(DIM).auto_compact(0.3, 200)
}

fn calls() -> usize {
    260 * soak()
}

/// Child role `concurrent-writer`: runs the schedule of `NIDUS_SEED_C`.
pub fn writer_child() {
    let dir = env("NIDUS_DIR");
    let sched = schedule(env_u64("NIDUS_SEED_C"), calls());
    let mut store = Store::open(&dir, writer_options()).expect("writer opens");
    // Resume after the call whose state the store holds (an earlier writer
    // may have been killed).
    let at = verify(&store, &sched, None, &mut Rng::new(1)).expect("a state of the schedule");
    let start = at.map_or(0, |i| i + 1);
    for (i, call) in sched.calls.iter().enumerate().skip(start) {
        run_call(&mut store, call).unwrap_or_else(|e| panic!("writer call {i} {call:?}: {e}"));
        // Give the readers the CPU (two cores, four processes), so they
        // meet many of the writer's states.
        std::thread::sleep(Duration::from_millis(if i % 4 == 0 { 8 } else { 1 }));
    }
    emit(format_args!("done"));
}

/// Child role `concurrent-reader`: refreshes (and now and then reopens)
/// until it has seen the writer's last call.
pub fn reader_child() {
    let dir = env("NIDUS_DIR");
    let seed = env_u64("NIDUS_SEED_C");
    let sched = schedule(seed, calls());
    let mut rng = Rng::new(seed ^ u64::from(std::process::id()));
    let ro = || Store::open(&dir, Options::existing().read_only()).expect("reader opens");
    let mut store = ro();
    let mut at = None;
    let (mut iterations, mut refreshes, mut reopens, mut states) = (0u64, 0u64, 0u64, 0u64);
    let last = sched.calls.len() - 1;
    while at != Some(last) {
        if rng.chance(0.05) {
            store = ro();
            reopens += 1;
        } else {
            store
                .refresh()
                .unwrap_or_else(|e| panic!("refresh after state {at:?}: {e}"));
            refreshes += 1;
        }
        let now = verify(&store, &sched, at, &mut rng)
            .unwrap_or_else(|e| panic!("reader after state {at:?}: {e}"));
        states += u64::from(now != at);
        at = now;
        iterations += 1;
        assert!(iterations < 2_000_000, "the reader never saw the end");
    }
    emit(format_args!(
        "reader {iterations} iterations, {refreshes} refreshes, {reopens} reopens, {states} distinct states"
    ));
}

#[test]
fn reader_processes_only_ever_see_whole_batches() {
    let seed = base_seed() ^ 0xC0C0;
    let tmp = tempdir();
    let dir = tmp.path();
    drop(Store::open(dir, writer_options()).expect("create"));
    let env = [
        ("NIDUS_DIR", dir.display().to_string()),
        ("NIDUS_SEED_C", seed.to_string()),
    ];
    let readers: Vec<_> = (0..3)
        .map(|_| spawn_child("concurrent-reader", &env))
        .collect();
    // The writer is SIGKILLed a few times at seeded moments and restarted;
    // the readers carry on through torn tails and cut-backs.
    let mut rng = Rng::new(seed);
    let mut kills = 0;
    for _ in 0..3 * soak() {
        let writer = spawn_child("concurrent-writer", &env);
        std::thread::sleep(Duration::from_millis(rng.range(50, 400) as u64));
        writer.kill_and_drain();
        kills += 1;
    }
    let writer = spawn_child("concurrent-writer", &env);
    let (ok, lines) = writer.finish(Duration::from_secs(300));
    assert!(ok && lines.iter().any(|l| l == "done"), "writer: {lines:?}");
    let mut reports = Vec::new();
    for r in readers {
        let (ok, lines) = r.finish(Duration::from_secs(300));
        assert!(ok, "a reader failed: {lines:?}");
        reports.extend(lines);
    }
    eprintln!(
        "concurrency (processes): writer {} calls, killed {kills} times; {reports:?}",
        calls()
    );
    assert_eq!(reports.len(), 3);
}

#[test]
fn searcher_threads_beside_a_writer_thread_only_see_whole_batches() {
    let seed = base_seed() ^ 0x7EAD;
    let tmp = tempdir();
    let sched = Arc::new(schedule(seed, calls()));
    let store = Arc::new(RwLock::new(
        Store::open(
            tmp.path(),
            writer_options().durability(nidus::Durability::Deferred),
        )
        .unwrap(),
    ));
    let done = Arc::new(AtomicBool::new(false));
    let searches = Arc::new(AtomicUsize::new(0));
    let searchers: Vec<_> = (0..4u64)
        .map(|t| {
            let (store, sched, done, searches) = (
                Arc::clone(&store),
                Arc::clone(&sched),
                Arc::clone(&done),
                Arc::clone(&searches),
            );
            std::thread::spawn(move || {
                let mut rng = Rng::for_pair(seed, t);
                let mut at = None;
                loop {
                    let finished = done.load(Ordering::SeqCst);
                    let guard = store.read().expect("no writer panicked");
                    at = verify(&guard, &sched, at, &mut rng)
                        .unwrap_or_else(|e| panic!("searcher {t} after {at:?}: {e}"));
                    drop(guard);
                    searches.fetch_add(1, Ordering::Relaxed);
                    if finished {
                        assert_eq!(
                            at,
                            Some(sched.calls.len() - 1),
                            "searcher {t} missed the end"
                        );
                        return;
                    }
                }
            })
        })
        .collect();
    for (i, call) in sched.calls.iter().enumerate() {
        let mut guard = store.write().expect("no searcher panicked");
        run_call(&mut guard, call).unwrap_or_else(|e| panic!("writer call {i}: {e}"));
        drop(guard);
        std::thread::sleep(Duration::from_micros(500));
    }
    done.store(true, Ordering::SeqCst);
    for s in searchers {
        s.join().expect("a searcher failed");
    }
    eprintln!(
        "concurrency (threads): {} writer calls, {} verified searches",
        calls(),
        searches.load(Ordering::Relaxed)
    );
}
