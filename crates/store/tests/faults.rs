//! Failures injected through the I/O seam: a failed write, sync, cut-back
//! or rename leaves the file and the store exactly as before, and the next
//! call succeeds (SPEC.md §7.3).

use std::path::Path;
use std::sync::Arc;

use nidus_store::{ErrorKind, Options, Record, Search, Store};
use nidus_testkit::faults::{Class, Faults, FaultyFs};

fn recs(prefix: &str, n: usize) -> Vec<Record> {
    nidus_testkit::recs(prefix, n, 4)
}

fn data_len(dir: &Path) -> u64 {
    std::fs::metadata(dir.join(nidus_format::DATA_FILE))
        .unwrap()
        .len()
}

/// Everything observable about a store's content.
fn snapshot(store: &Store) -> (usize, Vec<nidus_store::Hit>, u64) {
    let hits = store
        .search(&[1.0, 1.0, 1.0, 1.0], Search::top(100).with_vectors())
        .unwrap();
    (store.len(), hits, store.stats().file_bytes)
}

#[test]
fn failed_writes_leave_file_and_memory_unchanged() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let faults = Faults::new();
    let opts = Options::new(4).file_system(Arc::new(FaultyFs(Arc::clone(&faults))));
    let mut store = Store::open(dir.path(), opts.clone())?;
    store.upsert("c", &recs("a", 10))?;
    let before = snapshot(&store);
    let len = data_len(dir.path());

    // A short write then ENOSPC: cut back, nothing applied.
    faults.set_write_budget(100);
    let e = store.upsert("c", &recs("b", 10)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io, "{e}");
    assert!(e.to_string().contains("no space left"), "{e}");
    assert_eq!(snapshot(&store), before);
    assert_eq!(data_len(dir.path()), len, "partial frame cut back");
    faults.heal();

    // fsync fails (EIO): cut back too.
    faults.set_failing(Class::Sync, true);
    assert_eq!(
        store.delete("c", &["a1"]).unwrap_err().kind(),
        ErrorKind::Io
    );
    assert_eq!(snapshot(&store), before);
    assert_eq!(data_len(dir.path()), len);
    faults.heal();

    // The write fails and so does the cut-back: the next call cuts first.
    faults.set_write_budget(10);
    faults.set_failing(Class::SetLen, true);
    assert_eq!(
        store.upsert("c", &recs("d", 3)).unwrap_err().kind(),
        ErrorKind::Io
    );
    assert_eq!(snapshot(&store), before);
    assert!(data_len(dir.path()) > len, "debris left by the failed cut");
    // Still failing to cut: the next write refuses rather than append after debris.
    faults.set_write_budget(u64::MAX);
    assert_eq!(
        store.upsert("c", &recs("d", 3)).unwrap_err().kind(),
        ErrorKind::Io
    );
    assert_eq!(snapshot(&store), before);
    faults.heal();

    // Healed: the next call succeeds and lands right after the old end.
    store.upsert("c", &recs("e", 5))?;
    assert_eq!(store.len(), 15);
    let after = snapshot(&store);
    drop(store);
    let reopened = Store::open(dir.path(), opts)?;
    assert_eq!(snapshot(&reopened), after);
    assert_eq!(reopened.open_report().end, nidus_store::FileEnd::Clean);
    Ok(())
}

#[test]
fn failed_compaction_keeps_the_old_file() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let faults = Faults::new();
    let opts = Options::new(4)
        .no_auto_compact()
        .file_system(Arc::new(FaultyFs(Arc::clone(&faults))));
    let mut store = Store::open(dir.path(), opts.clone())?;
    store.upsert("c", &recs("a", 50))?;
    store.upsert("c", &recs("a", 20))?; // 20 dead rows
    let before = snapshot(&store);
    let len = data_len(dir.path());

    faults.set_write_budget(500);
    assert_eq!(store.compact().unwrap_err().kind(), ErrorKind::Io);
    faults.heal();
    faults.set_failing(Class::Rename, true);
    assert_eq!(store.compact().unwrap_err().kind(), ErrorKind::Io);
    faults.heal();
    assert_eq!(snapshot(&store), before);
    assert_eq!(store.stats().dead_rows, 20);
    assert_eq!(data_len(dir.path()), len);
    assert!(
        !dir.path().join("data.nidus.new").exists(),
        "temporary file removed"
    );

    store.compact()?;
    assert_eq!(store.stats().dead_rows, 0);
    assert!(data_len(dir.path()) < len);
    store.upsert("c", &recs("z", 2))?;
    let after = snapshot(&store);
    drop(store);
    assert_eq!(snapshot(&Store::open(dir.path(), opts)?), after);
    Ok(())
}

#[test]
fn failed_big_batch_unstages_its_vectors() -> anyhow::Result<()> {
    // Big enough (>= 1 MiB of vectors) for the overlapped write path.
    let dim = 384;
    let big: Vec<Record> = (0..800)
        .map(|i| {
            // A distinct direction per record, so a vector left at the
            // wrong row by a failed batch would show.
            let mut v = vec![1.0; dim];
            v[i % dim] = 50.0;
            Record::new(format!("b{i}"), v)
        })
        .collect();
    let dir = tempfile::tempdir()?;
    let faults = Faults::new();
    let opts = Options::new(dim).file_system(Arc::new(FaultyFs(Arc::clone(&faults))));
    let mut store = Store::open(dir.path(), opts.clone())?;
    store.upsert("c", &big[..10])?;
    let footprint = store.footprint();
    let len = data_len(dir.path());
    for (budget, fail_sync) in [(1 << 20, false), (u64::MAX, true)] {
        faults.set_write_budget(budget);
        faults.set_failing(Class::Sync, fail_sync);
        assert_eq!(store.upsert("c", &big).unwrap_err().kind(), ErrorKind::Io);
        faults.heal();
        assert_eq!(store.len(), 10);
        assert_eq!(store.footprint().live_rows, footprint.live_rows);
        assert_eq!(data_len(dir.path()), len);
        let q = vec![1.0; dim];
        assert_eq!(store.search(&q, Search::top(100))?.len(), 10);
    }
    store.upsert("c", &big)?;
    assert_eq!(store.len(), 800);
    let check = |store: &Store| -> anyhow::Result<()> {
        for i in [0, 9, 10, 383, 384, 799] {
            let v = store.get("c", &format!("b{i}"))?.unwrap().vector;
            let top = (0..dim).max_by(|&a, &b| v[a].total_cmp(&v[b])).unwrap();
            assert_eq!(top, i % dim, "record b{i}");
        }
        let mut q = vec![0.0; dim];
        q[5] = 1.0;
        let hits = store.search(&q, Search::top(3))?;
        let ids: Vec<&str> = hits.iter().map(|h| h.id.as_str()).collect();
        assert_eq!(ids, ["b5", "b389", "b773"], "{hits:?}");
        Ok(())
    };
    check(&store)?;
    drop(store);
    let store = Store::open(dir.path(), opts)?;
    assert_eq!(store.len(), 800);
    check(&store)?;
    Ok(())
}
