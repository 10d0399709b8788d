//! I/O faults through the store's seam (`nidus::store::io`), as redb's fuzzer
//! does with its storage backend: a countdown over every *fault point* (each
//! write, sync, truncate, rename, directory sync, removal, creation, and in
//! the read suites each read) fails the Nth one with ENOSPC or EIO. For every
//! write call, compaction and open, the suite first counts the points the
//! call passes, then fails each of them in turn, in four modes:
//!
//! - **once**: that point fails, later ones succeed (a transient error);
//! - **sticky**: that point and every later point of its kind fail (a full
//!   disk stays full, a dying disk keeps failing);
//! - **cut fails**: that point fails and so does every truncation, so the
//!   store cannot cut a partial frame back (SPEC.md §7.3);
//! - **benign**: that write is short or interrupted, which `write_all`
//!   must absorb: the call succeeds.
//!
//! After each failed call: it returned `Io`; memory (get/count/records/
//! search) is exactly as before; the data file's bytes are exactly as before
//! (a compaction fault before the rename leaves the old file, after it the
//! new file holds the same state; a failed cut-back leaves bytes past the
//! old end that the next call must cut); no temporary file is left; the same
//! call succeeds once the fault is gone; a reopen sees exactly the model.

use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::{Arc, Mutex};

use nidus::store::io::FileSystem;
use nidus::{Durability, ErrorKind, FileEnd, Filter, Options, Record, Store};
use nidus_testkit::faults::{Class, Faults, FaultyFs, Mode};

use super::model::{Pred, Reference};
use super::support::{Rng, base_seed, copy_dir, data_path, soak, tempdir};

// ----- the workload -----------------------------------------------------------

const DIM: usize = 16;

fn record(rng: &mut Rng, id: String) -> Record {
    let v: Vec<f32> = (0..DIM).map(|_| rng.unit_f32() + 0.001).collect();
    Record::new(id, v)
        .attr("n", rng.below(100) as i64)
        .attr("tag", *rng.pick(&["x", "y"]))
}

/// Builds the base store every case starts from: two collections,
/// metadata, overwrites and deletes (dead rows), and the model of it.
fn base_store(dir: &Path, seed: u64) -> Reference {
    let mut rng = Rng::new(seed);
    let mut model = Reference::default();
    let mut s = Store::open(dir, Options::new(DIM).no_auto_compact()).expect("base");
    for round in 0..4 {
        let a: Vec<Record> = (0..60)
            .map(|i| record(&mut rng, format!("a{}", (i * 7 + round * 13) % 150)))
            .collect();
        s.upsert("a", &a).unwrap();
        model.upsert("a", &a);
    }
    let b: Vec<Record> = (0..30).map(|i| record(&mut rng, format!("b{i}"))).collect();
    s.upsert("b", &b).unwrap();
    model.upsert("b", &b);
    let gone: Vec<String> = (0..10).map(|i| format!("a{}", i * 3)).collect();
    s.delete("a", &gone).unwrap();
    model.delete("a", &gone);
    s.set_metadata("a", "owner", "faults").unwrap();
    model
        .collections
        .get_mut("a")
        .unwrap()
        .metadata
        .insert("owner".into(), "faults".into());
    model
}

/// One write call under test, with what it does to the model.
struct Case {
    name: &'static str,
    options: fn(Options) -> Options,
    /// Runs before the faults are armed (e.g. a deferred write to flush).
    prepare: fn(&mut Store, &mut Reference),
    run: fn(&mut Store) -> nidus::Result<()>,
    model: fn(&mut Reference),
    /// Points from the first removal on belong to an automatic compaction
    /// after a committed write: a fault there does not fail the call.
    auto_compacts: bool,
}

fn big_batch() -> Vec<Record> {
    let mut rng = Rng::new(7);
    (0..3000)
        .map(|i| record(&mut rng, format!("big{i}")))
        .collect()
}
/// Over the store's 1 MiB threshold of vector data (2^18 floats), written
/// on a helper thread while the vectors are copied into memory.
fn huge_batch() -> Vec<Record> {
    let mut rng = Rng::new(9);
    (0..(1 << 18) / DIM + 64)
        .map(|i| record(&mut rng, format!("huge{i}")))
        .collect()
}
fn small_batch() -> Vec<Record> {
    let mut rng = Rng::new(8);
    vec![
        record(&mut rng, "a1".into()),
        record(&mut rng, "new1".into()),
        record(&mut rng, "new2".into()),
    ]
}
fn ids_to_delete() -> Vec<String> {
    ["a1", "a2", "a4", "b3", "nope"]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

fn cases() -> Vec<Case> {
    vec![
        Case {
            name: "upsert",
            options: |o| o,
            prepare: |_, _| {},
            run: |s| s.upsert("a", &small_batch()),
            model: |m| m.upsert("a", &small_batch()),
            auto_compacts: false,
        },
        Case {
            name: "upsert of 3000 records",
            options: |o| o,
            prepare: |_, _| {},
            run: |s| s.upsert("big", &big_batch()),
            model: |m| m.upsert("big", &big_batch()),
            auto_compacts: false,
        },
        Case {
            name: "upsert of 2^18 floats (written on a helper thread)",
            options: |o| o,
            prepare: |_, _| {},
            run: |s| s.upsert("a", &huge_batch()),
            model: |m| m.upsert("a", &huge_batch()),
            auto_compacts: false,
        },
        Case {
            name: "delete",
            options: |o| o,
            prepare: |_, _| {},
            run: |s| s.delete("a", &ids_to_delete()).map(drop),
            model: |m| {
                m.delete("a", &ids_to_delete());
            },
            auto_compacts: false,
        },
        Case {
            name: "delete_where",
            options: |o| o,
            prepare: |_, _| {},
            run: |s| s.delete_where("a", Filter::lt("n", 50)).map(drop),
            model: |m| {
                m.delete_where("a", &Pred::Lt("n", 50.0));
            },
            auto_compacts: false,
        },
        Case {
            name: "drop_collection",
            options: |o| o,
            prepare: |_, _| {},
            run: |s| s.drop_collection("b"),
            model: |m| {
                m.collections.remove("b");
            },
            auto_compacts: false,
        },
        Case {
            name: "create_collection",
            options: |o| o,
            prepare: |_, _| {},
            run: |s| s.create_collection("c").map(drop),
            model: |m| {
                m.collections.entry("c".into()).or_default();
            },
            auto_compacts: false,
        },
        Case {
            name: "set_metadata",
            options: |o| o,
            prepare: |_, _| {},
            run: |s| s.set_metadata("b", "k", "v"),
            model: |m| {
                m.collections
                    .get_mut("b")
                    .unwrap()
                    .metadata
                    .insert("k".into(), "v".into());
            },
            auto_compacts: false,
        },
        Case {
            name: "compact",
            options: |o| o,
            prepare: |_, _| {},
            run: |s| s.compact(),
            model: |_| {},
            auto_compacts: false,
        },
        Case {
            name: "upsert that triggers an automatic compaction",
            options: |o| o.auto_compact(0.05, 1),
            prepare: |_, _| {},
            run: |s| s.upsert("a", &small_batch()),
            model: |m| m.upsert("a", &small_batch()),
            auto_compacts: true,
        },
        Case {
            name: "deferred upsert",
            options: |o| o.durability(Durability::Deferred),
            prepare: |_, _| {},
            run: |s| s.upsert("a", &small_batch()),
            model: |m| m.upsert("a", &small_batch()),
            auto_compacts: false,
        },
        Case {
            name: "flush of a deferred write",
            options: |o| o.durability(Durability::Deferred),
            prepare: |s, m| {
                s.upsert("b", &small_batch()).unwrap();
                m.upsert("b", &small_batch());
            },
            run: |s| s.flush(),
            model: |_| {},
            auto_compacts: false,
        },
    ]
}

#[derive(Debug, Default)]
struct Tally {
    cases: usize,
    runs: usize,
    failed_calls: usize,
    reopened_over_debris: usize,
    landed_anyway: usize,
    by_class: std::collections::BTreeMap<String, usize>,
}

fn read(p: &Path) -> Vec<u8> {
    std::fs::read(p).unwrap_or_default()
}

fn run_case(base: &Path, base_model: &Reference, case: &Case, tally: &mut Tally, seed: u64) {
    let plan = Arc::new(Faults::default());
    let tmp = tempdir();
    let open = |dir: &Path| {
        Store::open(
            dir,
            (case.options)(Options::new(DIM).no_auto_compact())
                .file_system(Arc::new(FaultyFs(Arc::clone(&plan)))),
        )
        .expect("open before the faults")
    };
    // Count the points the call passes.
    let counting = tmp.path().join("count");
    copy_dir(base, &counting);
    let mut store = open(&counting);
    let mut model = base_model.clone();
    (case.prepare)(&mut store, &mut model);
    plan.arm(None, None);
    (case.run)(&mut store).unwrap_or_else(|e| panic!("{}: fault-free run failed: {e}", case.name));
    let log = plan.0.lock().unwrap().log.clone();
    drop(store);
    assert!(!log.is_empty(), "{}: the call touched no file", case.name);
    let commit_points = if case.auto_compacts {
        log.iter()
            .position(|&c| c == Class::Remove)
            .expect("the automatic compaction ran")
    } else {
        log.len()
    };
    let mut after = model.clone();
    (case.model)(&mut after);
    tally.cases += 1;

    let modes = [
        Mode::Once,
        Mode::Sticky,
        Mode::CutFails,
        Mode::CutFailsThenExit,
        Mode::Benign,
    ];
    for (k, &class) in log.iter().enumerate() {
        for &mode in &modes {
            if mode == Mode::Benign && class != Class::Write {
                continue;
            }
            let ctx = format!(
                "seed {seed}: {}: {mode:?} fault at point {k} ({class:?}) of {log:?}",
                case.name
            );
            let dir = tmp.path().join(format!("{k}-{mode:?}"));
            copy_dir(base, &dir);
            let mut store = open(&dir);
            let mut before = base_model.clone();
            (case.prepare)(&mut store, &mut before);
            let bytes_before = read(&data_path(&dir));
            plan.arm(Some(k as u64), Some(mode));
            let result = (case.run)(&mut store);
            let fired = plan.0.lock().unwrap().fired;
            tally.runs += 1;
            assert_eq!(
                fired.map(|f| f.0),
                Some(class),
                "{ctx}: the fault did not fire where counted"
            );
            let failed = result.is_err();
            // A failed removal is ignored by design (of a leftover that may
            // not exist), and a store need not ask for a length it knows.
            let must_fail = mode != Mode::Benign
                && k < commit_points
                && !matches!(class, Class::Remove | Class::Len | Class::Seek | Class::Id);
            match result {
                Err(e) => {
                    assert!(
                        mode != Mode::Benign,
                        "{ctx}: a short or interrupted write failed the call: {e}"
                    );
                    assert_eq!(e.kind(), ErrorKind::Io, "{ctx}: {e}");
                    let msg = e.to_string();
                    assert!(
                        msg.contains(&dir.display().to_string()),
                        "{ctx}: the error does not name the store: {msg}"
                    );
                    before
                        .check(&store, 1000)
                        .unwrap_or_else(|d| panic!("{ctx}: memory changed by a failed call: {d}"));
                    let now = read(&data_path(&dir));
                    // Past the rename the new file is the store, whatever
                    // fails after it (SPEC.md §6.5).
                    let renamed = log[..k].contains(&Class::Rename);
                    let compaction_switched = case.name == "compact" && renamed;
                    if compaction_switched {
                        // The rename happened: the new file is the store.
                    } else if matches!(mode, Mode::CutFails | Mode::CutFailsThenExit)
                        && now.len() > bytes_before.len()
                    {
                        assert_eq!(
                            &now[..bytes_before.len()],
                            &bytes_before[..],
                            "{ctx}: bytes before the end changed"
                        );
                    } else {
                        assert!(
                            now == bytes_before,
                            "{ctx}: the data file changed ({} -> {} bytes)",
                            bytes_before.len(),
                            now.len()
                        );
                    }
                    if !(mode == Mode::Sticky && class == Class::Remove) {
                        assert!(
                            !dir.join("data.nidus.new").exists(),
                            "{ctx}: temporary file left behind"
                        );
                    }
                    *tally.by_class.entry(format!("{class:?}")).or_default() += 1;
                    tally.failed_calls += 1;
                    plan.heal();
                    if mode == Mode::CutFailsThenExit {
                        // The process ends instead (debris still on disk):
                        // a reopen cuts it. The failed batch is absent, or,
                        // if its frame was whole before the sync failed,
                        // present whole (SPEC.md §7.3).
                        drop(store);
                        store =
                            Store::open(&dir, (case.options)(Options::new(DIM).no_auto_compact()))
                                .unwrap_or_else(|e| panic!("{ctx}: reopen over debris: {e}"));
                        if before.check(&store, 1000).is_err() {
                            after.check(&store, 1000).unwrap_or_else(|d| {
                                panic!("{ctx}: reopen over debris: neither before nor after: {d}")
                            });
                            tally.landed_anyway += 1;
                            drop(store);
                            continue;
                        }
                        tally.reopened_over_debris += 1;
                    }
                    // Once the fault is gone the same call succeeds.
                    (case.run)(&mut store).unwrap_or_else(|e| {
                        panic!("{ctx}: the call failed again after healing: {e}")
                    });
                }
                Ok(()) => {
                    assert!(!must_fail, "{ctx}: the call succeeded despite the fault");
                }
            }
            plan.heal();
            after
                .check(&store, 1000)
                .unwrap_or_else(|d| panic!("{ctx} (failed: {failed}): memory after the call: {d}"));
            // The store keeps working: one more write, then a reopen.
            let mut after = after.clone();
            let more = small_batch();
            store
                .upsert("more", &more)
                .unwrap_or_else(|e| panic!("{ctx}: the next write failed: {e}"));
            after.upsert("more", &more);
            drop(store);
            let reopened = Store::open(&dir, Options::existing())
                .unwrap_or_else(|e| panic!("{ctx}: reopen: {e}"));
            assert_eq!(
                reopened.open_report().end,
                FileEnd::Clean,
                "{ctx}: reopen found debris"
            );
            after
                .check(&reopened, 1000)
                .unwrap_or_else(|d| panic!("{ctx}: after reopen: {d}"));
        }
    }
}

#[test]
fn a_fault_at_any_step_of_a_write_call_changes_nothing() {
    let seed = base_seed() ^ 0xFA_0175;
    let tmp = tempdir();
    let mut tally = Tally::default();
    for round in 0..soak() {
        let base = tmp.path().join(format!("base{round}"));
        let model = base_store(&base, seed + round as u64);
        for case in cases() {
            run_case(&base, &model, &case, &mut tally, seed + round as u64);
        }
    }
    eprintln!("faults (write calls): {tally:?}");
    assert!(tally.failed_calls > 60, "{tally:?}");
}

/// Appends `bytes` to the data file of `dir`.
fn append_raw(dir: &Path, bytes: &[u8]) {
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(data_path(dir))
        .unwrap();
    f.write_all(bytes).unwrap();
}

/// Faults at every step of an open that writes: creating a store, cutting
/// a torn tail, setting a damaged tail aside (`open_valid_prefix`). A
/// failed open leaves no torn header and loses nothing; the next open
/// succeeds.
#[test]
fn a_fault_at_any_step_of_an_open_loses_nothing() {
    let seed = base_seed() ^ 0x0BE4;
    let tmp = tempdir();
    let base = tmp.path().join("base");
    let model = base_store(&base, seed);
    let frame_start = read(&data_path(&base)).len();
    // A second copy whose last batch is torn, and one with a damaged frame
    // followed by a whole one (corruption, opened with open_valid_prefix).
    let torn = tmp.path().join("torn");
    copy_dir(&base, &torn);
    let whole = {
        let mut s = Store::open(&torn, Options::new(DIM)).unwrap();
        s.upsert("a", &small_batch()).unwrap();
        drop(s);
        read(&data_path(&torn))[frame_start..].to_vec()
    };
    std::fs::write(
        data_path(&torn),
        [&read(&data_path(&base))[..], &whole[..whole.len() - 5]].concat(),
    )
    .unwrap();
    let corrupt = tmp.path().join("corrupt");
    copy_dir(&base, &corrupt);
    let mut bad = whole.clone();
    bad[20] ^= 0x40;
    append_raw(&corrupt, &bad);
    append_raw(&corrupt, &whole);

    struct OpenCase<'a> {
        name: &'a str,
        src: Option<&'a Path>,
        opts: Options,
        want: Reference,
    }
    let cases = [
        OpenCase {
            name: "create",
            src: None,
            opts: Options::new(DIM),
            want: Reference::default(),
        },
        OpenCase {
            name: "cut a torn tail",
            src: Some(&torn),
            opts: Options::new(DIM),
            want: model.clone(),
        },
        OpenCase {
            name: "set aside a damaged tail",
            src: Some(&corrupt),
            opts: Options::new(DIM).open_valid_prefix(),
            want: model.clone(),
        },
    ];
    let mut injected = 0;
    for case in &cases {
        let plan = Arc::new(Faults::default());
        let opts = case
            .opts
            .clone()
            .file_system(Arc::new(FaultyFs(Arc::clone(&plan))));
        let fresh = |name: &str| {
            let d = tmp
                .path()
                .join(format!("{}-{name}", case.name.replace(' ', "_")));
            if let Some(src) = case.src {
                copy_dir(src, &d);
            }
            d
        };
        let dir = fresh("count");
        plan.arm(None, None);
        drop(Store::open(&dir, opts.clone()).unwrap_or_else(|e| panic!("{}: {e}", case.name)));
        let log = plan.0.lock().unwrap().log.clone();
        for (k, &class) in log.iter().enumerate() {
            for mode in [Mode::Once, Mode::Sticky, Mode::CutFails] {
                let ctx = format!(
                    "open ({}): {mode:?} fault at point {k} ({class:?}) of {log:?}",
                    case.name
                );
                let dir = fresh(&format!("{k}-{mode:?}"));
                let bytes_before = read(&data_path(&dir));
                plan.arm(Some(k as u64), Some(mode));
                let result = Store::open(&dir, opts.clone());
                plan.heal();
                injected += 1;
                if let Err(e) = &result {
                    assert_eq!(e.kind(), ErrorKind::Io, "{ctx}: {e}");
                    let now = read(&data_path(&dir));
                    if case.src.is_none() {
                        // Never a torn header: no data file, or a whole one.
                        assert!(
                            now.is_empty() || now.len() == nidus::format::HEADER_LEN,
                            "{ctx}: {} bytes",
                            now.len()
                        );
                    } else {
                        // Nothing committed is lost; a cut, if any, is at the
                        // end of the valid prefix.
                        assert!(
                            now.len() >= frame_start && bytes_before.starts_with(&now),
                            "{ctx}: file changed"
                        );
                    }
                }
                drop(result);
                let store = Store::open(&dir, case.opts.clone())
                    .unwrap_or_else(|e| panic!("{ctx}: healed open: {e}"));
                case.want
                    .check(&store, 1000)
                    .unwrap_or_else(|d| panic!("{ctx}: {d}"));
                drop(store);
                if case.name == "set aside a damaged tail" {
                    let side = dir.join(format!("data.nidus.corrupt-{frame_start}"));
                    assert_eq!(
                        read(&side),
                        [&bad[..], &whole[..]].concat(),
                        "{ctx}: the damaged bytes were not kept"
                    );
                }
                let again = Store::open(&dir, Options::existing().read_only()).unwrap();
                assert_eq!(again.open_report().end, FileEnd::Clean, "{ctx}");
            }
        }
    }
    eprintln!("faults (opens): {injected} faults injected");
}

/// Read errors while opening or refreshing are I/O errors, never mistaken
/// for a torn tail or corruption (a writable open must not cut the file);
/// short reads change nothing.
#[test]
fn read_errors_are_reported_and_never_cut_the_file() {
    let seed = base_seed() ^ 0x4EAD;
    let tmp = tempdir();
    let base = tmp.path().join("base");
    let mut model = base_store(&base, seed);
    let plan = Arc::new(Faults::default());
    {
        let mut s = plan.0.lock().unwrap();
        s.reads = true;
        s.short_reads = 997;
    }
    let fs: Arc<dyn FileSystem> = Arc::new(FaultyFs(Arc::clone(&plan)));
    let bytes = read(&data_path(&base));
    let mut injected = 0;
    for read_only in [true, false] {
        let opts = || {
            let o = Options::new(DIM).file_system(Arc::clone(&fs));
            if read_only { o.read_only() } else { o }
        };
        // Count the reads of an open (short reads make many).
        let dir = tmp.path().join(format!("count-{read_only}"));
        copy_dir(&base, &dir);
        plan.arm(None, None);
        let s = Store::open(&dir, opts()).expect("open with short reads");
        model.check(&s, 1000).expect("short reads change nothing");
        drop(s);
        let reads = plan
            .0
            .lock()
            .unwrap()
            .log
            .iter()
            .filter(|&&c| c == Class::Read)
            .count();
        assert!(reads > 20, "{reads} reads");
        for k in 0..reads {
            let dir = tmp.path().join(format!("{read_only}-{k}"));
            copy_dir(&base, &dir);
            // Point k counts every class; find the k-th read's index.
            plan.arm(None, None);
            let ctx = format!("read-only {read_only}: EIO at read {k} of {reads}");
            let idx = {
                // Rehearse to map the k-th read onto a point index.
                drop(Store::open(&dir, opts()).unwrap());
                let log = plan.0.lock().unwrap().log.clone();
                log.iter()
                    .enumerate()
                    .filter(|(_, c)| **c == Class::Read)
                    .nth(k)
                    .unwrap()
                    .0
            };
            plan.arm(Some(idx as u64), Some(Mode::Once));
            let opened = Store::open(&dir, opts());
            plan.heal();
            injected += 1;
            match opened {
                Err(e) => assert_eq!(e.kind(), ErrorKind::Io, "{ctx}: {e}"),
                // Only a read after the last batch (a read-only store's
                // look at its last frame header) may fail without failing
                // the open; the state is whole and a refresh still works.
                Ok(mut s) => {
                    assert!(read_only && k + 1 == reads, "{ctx}: the open succeeded");
                    model
                        .check(&s, 1000)
                        .unwrap_or_else(|d| panic!("{ctx}: {d}"));
                    s.refresh()
                        .unwrap_or_else(|e| panic!("{ctx}: refresh: {e}"));
                    model
                        .check(&s, 1000)
                        .unwrap_or_else(|d| panic!("{ctx}: after refresh: {d}"));
                }
            }
            assert!(read(&data_path(&dir)) == bytes, "{ctx}: the file changed");
        }
    }
    // Refresh: a reader misses reads of new frames, then catches up.
    let dir = tmp.path().join("refresh");
    copy_dir(&base, &dir);
    let mut after = model.clone();
    let mut writer = Store::open(&dir, Options::new(DIM)).unwrap();
    let mut reader = Store::open(
        &dir,
        Options::new(DIM).read_only().file_system(Arc::clone(&fs)),
    )
    .unwrap();
    for round in 0..8 {
        let recs: Vec<Record> = small_batch()
            .into_iter()
            .chain(big_batch().into_iter().take(200 * round))
            .collect();
        writer.upsert("r", &recs).unwrap();
        after.upsert("r", &recs);
        plan.arm(Some(round as u64), Some(Mode::Once));
        let e = reader.refresh().expect_err("a read fails");
        plan.heal();
        injected += 1;
        assert_eq!(e.kind(), ErrorKind::Io, "refresh round {round}: {e}");
        model
            .check(&reader, 1000)
            .unwrap_or_else(|d| panic!("refresh round {round} changed memory: {d}"));
        reader.refresh().expect("refresh after healing");
        after
            .check(&reader, 1000)
            .unwrap_or_else(|d| panic!("refresh round {round}: {d}"));
        model.upsert("r", &recs);
    }
    eprintln!("faults (reads): {injected} faults injected");
}

/// SPEC.md §6.1 item 5: after `fsync` fails, Linux may already have dropped
/// the dirty pages, and the next `fsync` succeeds without them. So a
/// deferred store whose flush failed must not report a later flush as
/// durable unless the data really reached the disk. The power loss is
/// simulated: the bytes written before the failed sync read back as zeros
/// (the pages never written), if the data file is still the same file.
#[test]
fn a_flush_after_a_failed_sync_does_not_claim_lost_pages_durable() {
    use std::os::unix::fs::MetadataExt;
    let tmp = tempdir();
    let dir = tmp.path();
    let plan = Arc::new(Faults::default());
    let opts = Options::new(DIM)
        .no_auto_compact()
        .durability(Durability::Deferred)
        .file_system(Arc::new(FaultyFs(Arc::clone(&plan))));
    let mut rng = Rng::new(base_seed() ^ 0xF5C);
    let mut model = Reference::default();
    let mut store = Store::open(dir, opts).unwrap();
    let mut write = |store: &mut Store, model: &mut Reference, name: &str| {
        let recs: Vec<Record> = (0..20)
            .map(|i| record(&mut rng, format!("{name}{i}")))
            .collect();
        store.upsert("c", &recs).unwrap();
        model.upsert("c", &recs);
    };
    write(&mut store, &mut model, "a");
    store.flush().expect("the first flush");
    let durable = std::fs::metadata(data_path(dir)).unwrap().len();
    write(&mut store, &mut model, "b");
    write(&mut store, &mut model, "c");
    let lost_end = std::fs::metadata(data_path(dir)).unwrap().len();
    let inode = std::fs::metadata(data_path(dir)).unwrap().ino();
    plan.arm(Some(0), Some(Mode::Once));
    let e = store.flush().expect_err("the injected fsync error");
    assert_eq!(e.kind(), ErrorKind::Io);
    plan.heal();
    // Whatever the store does now, Ok means durable.
    store.flush().expect("a flush once the disk works again");
    write(&mut store, &mut model, "d");
    store.flush().expect("a later flush");
    drop(store);
    // Power loss: the pages of b and c never reached the disk.
    if std::fs::metadata(data_path(dir)).unwrap().ino() == inode {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(data_path(dir))
            .unwrap();
        f.seek(SeekFrom::Start(durable)).unwrap();
        f.write_all(&vec![0; (lost_end - durable) as usize])
            .unwrap();
    }
    let reopened = Store::open(dir, Options::existing().read_only())
        .unwrap_or_else(|e| panic!("flushed data lost after a failed sync: {e}"));
    model
        .check(&reopened, 100)
        .unwrap_or_else(|d| panic!("flushed data lost after a failed sync: {d}"));
}

/// A reader that refreshes between a writer's frame write and its failed
/// `fsync` applies a batch the writer then cuts back (SPEC.md §6.4: readers
/// see frames as soon as they are written). Its next refresh must notice
/// that the file no longer holds that frame and reload, not read on from
/// the middle of whatever the writer wrote there next.
#[test]
fn a_reader_that_saw_a_rolled_back_batch_catches_up() {
    let tmp = tempdir();
    let dir = tmp.path();
    let plan = Arc::new(Faults::default());
    let mut writer = Store::open(
        dir,
        Options::new(DIM).file_system(Arc::new(FaultyFs(Arc::clone(&plan)))),
    )
    .unwrap();
    let mut rng = Rng::new(base_seed() ^ 0xB0B);
    let mut batch = |name: &str, n: usize| -> Vec<Record> {
        (0..n)
            .map(|i| record(&mut rng, format!("{name}{i}")))
            .collect()
    };
    let (a, b, c, d) = (batch("a", 5), batch("b", 5), batch("c", 5), batch("d", 5));
    let mut model = Reference::default();
    writer.upsert("x", &a).unwrap();
    model.upsert("x", &a);
    let reader = Arc::new(Mutex::new(
        Store::open(dir, Options::existing().read_only()).unwrap(),
    ));
    // The fsync of batch b fails; just before, the reader refreshes.
    plan.arm(Some(2), Some(Mode::Once)); // seek, write, then sync
    let r = Arc::clone(&reader);
    plan.0.lock().unwrap().hook = Some(Box::new(move || {
        r.lock()
            .unwrap()
            .refresh()
            .expect("refresh beside the writer");
    }));
    let e = writer
        .upsert("x", &b)
        .expect_err("the injected fsync error");
    assert_eq!(e.kind(), ErrorKind::Io);
    assert_eq!(plan.0.lock().unwrap().fired.map(|f| f.0), Some(Class::Sync));
    plan.heal();
    assert!(
        reader.lock().unwrap().get("x", "b0").unwrap().is_some(),
        "the reader saw b before the cut"
    );
    // c has exactly b's size: the reader's end lands on a frame boundary.
    writer.upsert("x", &c).unwrap();
    writer.upsert("x", &d).unwrap();
    model.upsert("x", &c);
    model.upsert("x", &d);
    let mut reader = reader.lock().unwrap();
    reader
        .refresh()
        .unwrap_or_else(|e| panic!("refresh after the cut-back: {e}"));
    model
        .check(&reader, 100)
        .unwrap_or_else(|d| panic!("the reader kept a rolled-back batch: {d}"));
}
