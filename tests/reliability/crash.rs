//! Crash safety (SPEC.md §6.2, §7.3): a writer process applies a seeded
//! sequence of write calls and prints `ack <n>` after call `n` returns; the
//! parent SIGKILLs it at seeded moments (right after a call starts, inside
//! big batches, inside compactions, between calls) and then checks:
//!
//! - a read-only open succeeds and the file ends clean or torn, never
//!   corrupt, at the format level too;
//! - the store equals the model after the last acknowledged call, or after
//!   the one call in flight, whole: no acknowledged batch is missing or
//!   altered (vectors compared bit for bit), no batch is partly visible;
//! - a writable open takes the dead writer's lock at once, cuts any torn
//!   tail and removes compaction debris, and writing resumes from there.
//!
//! The writer's calls are a pure function of (seed, call number), so the
//! parent knows every call without being told.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;
use std::rc::Rc;
use std::time::{Duration, Instant};

use nidus::{Durability, FileEnd, Filter, Options, Record, Store};

use super::model::Reference;
use super::support::{Rng, base_seed, data_path, emit, env, env_u64, soak, spawn_child, tempdir};

const DIM: usize = 8;

/// One write call of the crash workload.
#[derive(Debug)]
pub enum Step {
    /// Upsert records into a collection.
    Upsert(&'static str, Vec<Record>),
    /// Delete ids of collection "a" (many may be missing).
    Delete(Vec<String>),
    /// Delete the records of "a" written before a batch number.
    DeleteOlderThan(i64),
    /// Drop collection "b" if it exists.
    DropB,
    /// Set a metadata entry of "a".
    Meta(String),
    /// Compact.
    Compact,
}

/// Write call `n` of the workload of `seed`.
pub fn step(seed: u64, n: u64) -> Rc<Step> {
    thread_local! {
        // The parent asks for the same calls many times; big ones are slow
        // to build in a debug build.
        static MEMO: RefCell<HashMap<(u64, u64), Rc<Step>>> = RefCell::new(HashMap::new());
    }
    MEMO.with(|m| {
        let mut m = m.borrow_mut();
        if m.len() > 256 {
            // Bounded: calls far behind are not asked for again.
            m.retain(|&(_, k), _| k + 128 > n);
        }
        Rc::clone(
            m.entry((seed, n))
                .or_insert_with(|| Rc::new(build_step(seed, n))),
        )
    })
}

fn build_step(seed: u64, n: u64) -> Step {
    let mut rng = Rng::for_pair(seed, n);
    let records = |rng: &mut Rng, count: usize, pool: usize| -> Vec<Record> {
        (0..count)
            .map(|i| {
                let v: Vec<f32> = (0..DIM).map(|_| rng.unit_f32() + 0.001).collect();
                Record::new(format!("k{}", rng.below(pool)), v)
                    .attr("batch", n as i64)
                    .attr("i", i as i64)
                    .attr("count", count as i64)
            })
            .collect()
    };
    if n == 0 {
        return Step::Upsert("a", records(&mut rng, 4, 3000));
    }
    match rng.below(100) {
        0..=54 => {
            let count = match rng.below(40) {
                0..=27 => rng.range(1, 16),
                28..=34 => rng.range(50, 400),
                35..=38 => rng.range(1000, 3000),
                // Over 2^18 floats: the store writes the frame on a helper
                // thread while it copies the vectors (a 1.3 MiB frame).
                _ => rng.range(33_000, 34_000),
            };
            Step::Upsert("a", records(&mut rng, count, 3000))
        }
        55..=64 => {
            let count = rng.range(1, 40);
            Step::Upsert("b", records(&mut rng, count, 200))
        }
        65..=76 => Step::Delete(
            (0..rng.range(1, 300))
                .map(|_| format!("k{}", rng.below(3000)))
                .collect(),
        ),
        77..=80 => Step::DeleteOlderThan(n as i64 - 20),
        81..=83 => Step::DropB,
        84..=87 => Step::Meta(format!("after {n}")),
        _ => Step::Compact,
    }
}

fn apply_store(store: &mut Store, step: &Step) -> nidus::Result<()> {
    match step {
        Step::Upsert(c, recs) => store.upsert(c, recs),
        Step::Delete(ids) => store.delete("a", ids).map(drop),
        Step::DeleteOlderThan(b) => store.delete_where("a", Filter::lt("batch", *b)).map(drop),
        Step::DropB if store.has_collection("b") => store.drop_collection("b"),
        Step::DropB => Ok(()),
        Step::Meta(v) => store.set_metadata("a", "last", v),
        Step::Compact => store.compact(),
    }
}

fn apply_model(model: &mut Reference, step: &Step) {
    match step {
        Step::Upsert(c, recs) => model.upsert(c, recs),
        Step::Delete(ids) => {
            model.delete("a", ids);
        }
        Step::DeleteOlderThan(b) => {
            model.delete_where("a", &super::model::Pred::Lt("batch", *b as f64));
        }
        Step::DropB => {
            model.collections.remove("b");
        }
        Step::Meta(v) => {
            model
                .collections
                .get_mut("a")
                .expect("a exists from batch 0 on")
                .metadata
                .insert("last".into(), v.clone());
        }
        Step::Compact => {}
    }
}

fn writer_options(durability: &str, auto: bool) -> Options {
    let o = Options::new(DIM).durability(if durability == "deferred" {
        Durability::Deferred
    } else {
        Durability::Sync
    });
    if auto {
        o.auto_compact(0.3, 500)
    } else {
        o.no_auto_compact()
    }
}

/// Child role `crash-writer`: runs the workload from call
/// `NIDUS_CRASH_START` on, forever, until the parent kills it.
pub fn writer_child() {
    let dir = env("NIDUS_DIR");
    let seed = env_u64("NIDUS_CRASH_SEED");
    let start = env_u64("NIDUS_CRASH_START");
    let opts = writer_options(
        &env("NIDUS_CRASH_DURABILITY"),
        env("NIDUS_CRASH_AUTO") == "1",
    );
    let mut store = Store::open(&dir, opts).expect("the writer child opens the store");
    emit(format_args!("ready"));
    for n in start.. {
        let s = step(seed, n);
        emit(format_args!("begin {n}"));
        apply_store(&mut store, &s).unwrap_or_else(|e| panic!("call {n} ({s:?}) failed: {e}"));
        emit(format_args!("ack {n}"));
    }
}

/// What the crash rounds did, for the report.
#[derive(Debug, Default)]
struct Tally {
    kills: usize,
    in_flight: usize,
    in_flight_landed: usize,
    in_compaction: usize,
    in_big_batch: usize,
    in_huge_batch: usize,
    torn_tails: usize,
    acked: u64,
}

/// Checks the store after a kill; returns the call number the store is at.
fn verify_after_kill(
    dir: &Path,
    seed: u64,
    model: &mut Reference,
    next: u64,
    (acked, begun): (Option<u64>, Option<u64>),
    tally: &mut Tally,
    ctx: &str,
) -> u64 {
    // Advance the model through every acknowledged call.
    let mut at = next;
    if let Some(a) = acked {
        while at <= a {
            apply_model(model, &step(seed, at));
            at += 1;
        }
    }
    // `at` is the first unacknowledged call; it may have landed if it began.
    let in_flight = begun.filter(|&b| b == at);
    let ro = Store::open(dir, Options::existing().read_only())
        .unwrap_or_else(|e| panic!("{ctx}: read-only open after the kill: {e}"));
    match &ro.open_report().end {
        FileEnd::Clean => {}
        FileEnd::Torn { .. } => tally.torn_tails += 1,
        other => panic!("{ctx}: a kill left a damaged file: {other:?}"),
    }
    let landed = match model.check(&ro, 32) {
        Ok(()) => false,
        Err(without) => {
            let Some(n) = in_flight else {
                panic!("{ctx}: the store differs from the acknowledged calls: {without}");
            };
            let mut with = model.clone();
            apply_model(&mut with, &step(seed, n));
            if let Err(e) = with.check(&ro, 32) {
                panic!(
                    "{ctx}: the store is neither the state before call {n} ({without}) nor after it ({e})"
                );
            }
            *model = with;
            true
        }
    };
    drop(ro);
    if in_flight.is_some() {
        tally.in_flight += 1;
        tally.in_flight_landed += usize::from(landed);
    }
    // The file verifies at the format level: every frame, clean or torn end.
    let mut reader = nidus::format::Reader::open(data_path(dir))
        .unwrap_or_else(|e| panic!("{ctx}: format reader: {e}"));
    let mut batch = nidus::format::Batch::default();
    while reader
        .next_into(&mut batch)
        .unwrap_or_else(|e| panic!("{ctx}: format reader: {e}"))
    {}
    // A writable open takes the dead writer's lock at once and cleans up.
    let t = Instant::now();
    let w = Store::open(dir, Options::new(DIM).no_auto_compact())
        .unwrap_or_else(|e| panic!("{ctx}: writable open after the kill: {e}"));
    assert!(
        t.elapsed() < Duration::from_secs(20),
        "{ctx}: taking over the lock took {:?}",
        t.elapsed()
    );
    model
        .check(&w, 8)
        .unwrap_or_else(|e| panic!("{ctx}: writable open: {e}"));
    drop(w);
    assert!(
        !dir.join("data.nidus.new").exists(),
        "{ctx}: compaction debris survived a writable open"
    );
    let again = Store::open(dir, Options::existing().read_only()).expect("reopen");
    assert_eq!(
        again.open_report().end,
        FileEnd::Clean,
        "{ctx}: torn tail not cut"
    );
    if landed { at + 1 } else { at }
}

#[test]
fn sigkilled_writers_lose_no_acknowledged_batch() {
    let rounds = 60 * soak();
    let seed = base_seed() ^ 0xC4A5_4000;
    let tmp = tempdir();
    let dir = tmp.path().join("store");
    let mut model = Reference::default();
    let mut next = 0u64;
    let mut tally = Tally::default();
    let wait = Duration::from_secs(120);
    for round in 0..rounds {
        let mut rng = Rng::for_pair(seed ^ 0x4B11, round as u64);
        let durability = if rng.chance(0.3) { "deferred" } else { "sync" };
        let auto = rng.chance(0.3);
        // Where to kill: a few calls ahead; a quarter of the rounds aim at
        // the next compaction, a quarter at the next big batch.
        let mut target = next + rng.range(0, 4) as u64;
        let aim = rng.below(4);
        let ahead = next..next + 80;
        if aim == 0 {
            if let Some(t) = ahead
                .clone()
                .find(|&t| matches!(*step(seed, t), Step::Compact))
            {
                target = t;
            }
        } else if aim == 1
            && let Some(t) = ahead
                .clone()
                .find(|&t| matches!(*step(seed, t), Step::Upsert(_, ref r) if r.len() >= 1000))
        {
            target = t;
        }
        let in_call = rng.chance(0.7);
        let delay = Duration::from_micros(match rng.below(3) {
            0 => 0,
            1 => rng.below(500) as u64,
            // Big batches take long to validate and encode (debug builds
            // most of all): spread the kill over their whole call.
            _ if aim == 1 => rng.below(600_000) as u64,
            _ => rng.below(20_000) as u64,
        });
        let ctx = format!(
            "seed {seed} round {round} (kill {} call {target} + {delay:?}, {durability}, auto {auto})",
            if in_call { "in" } else { "after" }
        );
        let child = spawn_child(
            "crash-writer",
            &[
                ("NIDUS_DIR", dir.display().to_string()),
                ("NIDUS_CRASH_SEED", seed.to_string()),
                ("NIDUS_CRASH_START", next.to_string()),
                ("NIDUS_CRASH_DURABILITY", durability.to_owned()),
                ("NIDUS_CRASH_AUTO", if auto { "1" } else { "0" }.to_owned()),
            ],
        );
        let mut acked = None;
        let mut begun = None;
        let note = |line: &str, acked: &mut Option<u64>, begun: &mut Option<u64>| {
            if let Some(n) = line.strip_prefix("ack ") {
                *acked = Some(n.parse().expect("ack number"));
            } else if let Some(n) = line.strip_prefix("begin ") {
                *begun = Some(n.parse().expect("begin number"));
            }
        };
        let want = if in_call {
            format!("begin {target}")
        } else {
            format!("ack {target}")
        };
        loop {
            let line = child
                .line(wait, &ctx)
                .unwrap_or_else(|| panic!("{ctx}: the writer exited on its own"));
            note(&line, &mut acked, &mut begun);
            if line == want {
                break;
            }
        }
        std::thread::sleep(delay);
        for line in child.kill_and_drain() {
            note(&line, &mut acked, &mut begun);
        }
        tally.kills += 1;
        if let Some(b) = begun.filter(|_| begun != acked) {
            match &*step(seed, b) {
                Step::Compact => tally.in_compaction += 1,
                Step::Upsert(_, r) if r.len() >= 33_000 => {
                    tally.in_big_batch += 1;
                    tally.in_huge_batch += 1;
                }
                Step::Upsert(_, r) if r.len() >= 1000 => tally.in_big_batch += 1,
                _ => {}
            }
        }
        next = verify_after_kill(
            &dir,
            seed,
            &mut model,
            next,
            (acked, begun),
            &mut tally,
            &ctx,
        );
        tally.acked = next;
    }
    eprintln!("crash: {tally:?}");
    assert_eq!(tally.kills, rounds);
    assert!(
        tally.in_flight > rounds / 4,
        "too few kills inside a call: {tally:?}"
    );
    assert!(
        tally.in_compaction > 0,
        "no kill inside a compaction: {tally:?}"
    );
}
