//! Open after crashes and damage; readers beside a writer; durability modes.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use nidus_store::{Durability, ErrorKind, FileEnd, Filter, Options, Record, Search, Store};

fn recs(prefix: &str, n: usize) -> Vec<Record> {
    nidus_testkit::recs(prefix, n, 3)
}

fn data(dir: &Path) -> PathBuf {
    dir.join(nidus_format::DATA_FILE)
}

/// A store with three batches; returns the end offset of each.
fn three_batches(dir: &Path) -> [u64; 3] {
    let mut s = Store::open(dir, Options::new(3)).unwrap();
    let mut ends = [0; 3];
    for (i, end) in ends.iter_mut().enumerate() {
        s.upsert("c", &recs(&format!("b{i}-"), 10)).unwrap();
        *end = s.stats().file_bytes;
    }
    ends
}

#[test]
fn torn_tail_is_cut_by_a_writer_and_ignored_by_a_reader() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let ends = three_batches(dir.path());
    // The last append died half-way.
    let cut = ends[1] + (ends[2] - ends[1]) / 2;
    std::fs::OpenOptions::new()
        .write(true)
        .open(data(dir.path()))?
        .set_len(cut)?;

    let ro = Store::open(dir.path(), Options::new(3).read_only())?;
    assert_eq!(ro.len(), 20);
    assert_eq!(
        ro.open_report().end,
        FileEnd::Torn {
            offset: ends[1],
            bytes: cut - ends[1]
        }
    );
    assert_eq!(
        std::fs::metadata(data(dir.path()))?.len(),
        cut,
        "reader writes nothing"
    );
    drop(ro);

    let mut rw = Store::open(dir.path(), Options::new(3))?;
    assert_eq!(rw.len(), 20);
    assert!(matches!(rw.open_report().end, FileEnd::Torn { .. }));
    assert_eq!(
        std::fs::metadata(data(dir.path()))?.len(),
        ends[1],
        "writer cut the tail"
    );
    rw.upsert("c", &recs("new", 1))?;
    drop(rw);
    let again = Store::open(dir.path(), Options::new(3))?;
    assert_eq!(again.len(), 21);
    assert_eq!(again.open_report().end, FileEnd::Clean);
    Ok(())
}

#[test]
fn mid_file_corruption_is_refused_with_its_offset_unless_asked() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let ends = three_batches(dir.path());
    let path = data(dir.path());
    let mut bytes = std::fs::read(&path)?;
    bytes[ends[0] as usize + 40] ^= 0x5A; // inside the second frame
    std::fs::write(&path, &bytes)?;

    for opts in [Options::new(3), Options::new(3).read_only()] {
        let e = Store::open(dir.path(), opts).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
        assert_eq!(e.offset(), Some(ends[0]), "{e}");
        assert!(e.to_string().contains(&ends[0].to_string()), "{e}");
    }

    let ro = Store::open(dir.path(), Options::new(3).read_only().open_valid_prefix())?;
    assert_eq!(ro.len(), 10);
    assert!(
        matches!(ro.open_report().end, FileEnd::Corrupt { offset, saved_to: None, .. } if offset == ends[0])
    );
    drop(ro);
    assert_eq!(
        std::fs::read(&path)?,
        bytes,
        "read-only open changed nothing"
    );

    let mut rw = Store::open(dir.path(), Options::new(3).open_valid_prefix())?;
    let FileEnd::Corrupt {
        saved_to: Some(side),
        ..
    } = rw.open_report().end.clone()
    else {
        panic!("expected a saved corrupt tail: {:?}", rw.open_report());
    };
    assert_eq!(
        std::fs::read(&side)?,
        &bytes[ends[0] as usize..],
        "damaged bytes kept aside"
    );
    assert_eq!(std::fs::metadata(&path)?.len(), ends[0]);
    rw.upsert("c", &recs("after", 2))?;
    drop(rw);
    assert_eq!(Store::open(dir.path(), Options::new(3))?.len(), 12);
    Ok(())
}

#[test]
fn damaged_header_is_corrupt_at_offset_zero() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    three_batches(dir.path());
    let path = data(dir.path());
    let mut bytes = std::fs::read(&path)?;
    bytes[12] ^= 0xFF;
    std::fs::write(&path, &bytes)?;
    let e = Store::open(dir.path(), Options::new(3)).unwrap_err();
    assert_eq!((e.kind(), e.offset()), (ErrorKind::Corrupt, Some(0)), "{e}");
    std::fs::write(&path, b"not a nidus file at all, just text")?;
    let e = Store::open(dir.path(), Options::existing().read_only()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
    Ok(())
}

#[test]
fn reader_refreshes_while_a_writer_appends_and_compacts() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut writer = Store::open(dir.path(), Options::new(3).no_auto_compact())?;
    writer.upsert("c", &recs("w", 5))?;
    let mut reader = Store::open(dir.path(), Options::new(3).read_only())?;
    assert_eq!(reader.len(), 5);

    let dir_path = dir.path().to_path_buf();
    let handle = std::thread::spawn(move || -> nidus_store::Result<Store> {
        for i in 0..20 {
            writer.upsert("c", &recs(&format!("t{i}-"), 3))?;
        }
        Ok(writer)
    });
    // Refresh concurrently: every state seen is a whole number of batches.
    let mut seen = 5;
    while !handle.is_finished() {
        reader.refresh()?;
        let n = reader.len();
        assert!(n >= seen && (n - 5) % 3 == 0, "partial batch visible: {n}");
        seen = n;
    }
    let mut writer = handle.join().expect("writer thread")?;
    let bytes_before = reader.stats().file_bytes;
    reader.refresh()?;
    assert_eq!(reader.len(), 65);
    assert!(reader.stats().file_bytes >= bytes_before);

    // Only appended frames are read: a refresh with nothing new reads nothing.
    assert_eq!(reader.refresh()?, 0);
    writer.upsert("c", &recs("one", 1))?;
    assert_eq!(reader.refresh()?, 1);

    // Compaction replaces the file: the reader notices and reloads.
    writer.delete_where("c", Filter::lt("n", 2))?;
    writer.compact()?;
    writer.upsert("c", &recs("post", 2))?;
    reader.refresh()?;
    assert_eq!(reader.len(), writer.len());
    let q = [1.0, 2.0, 0.5];
    assert_eq!(
        reader.search(&q, Search::top(10))?,
        writer.search(&q, Search::top(10))?
    );
    assert_eq!(reader.stats().dead_rows, 0);
    drop(writer);
    let _ = dir_path;
    Ok(())
}

#[test]
fn one_writer_and_searchers_share_a_store() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let store = Arc::new(RwLock::new(Store::open(dir.path(), Options::new(3))?));
    store.write().unwrap().upsert("c", &recs("seed", 10))?;
    let searchers: Vec<_> = (0..3)
        .map(|_| {
            let store = Arc::clone(&store);
            std::thread::spawn(move || {
                for _ in 0..50 {
                    let s = store.read().unwrap();
                    let hits = s.search(&[1.0, 1.0, 0.5], Search::top(5)).unwrap();
                    assert_eq!(hits.len(), 5);
                    assert!(hits.windows(2).all(|w| w[0].score >= w[1].score));
                }
            })
        })
        .collect();
    for i in 0..20 {
        store
            .write()
            .unwrap()
            .upsert("c", &recs(&format!("w{i}-"), 2))?;
    }
    for s in searchers {
        s.join().expect("searcher panicked");
    }
    assert_eq!(store.read().unwrap().len(), 50);
    Ok(())
}

#[test]
fn deferred_sync_writes_are_whole_after_flush_and_drop() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let opts = Options::new(3).durability(Durability::Deferred);
    let mut s = Store::open(dir.path(), opts.clone())?;
    for i in 0..5 {
        s.upsert("c", &recs(&format!("d{i}-"), 4))?;
    }
    s.flush()?;
    s.upsert("c", &recs("last", 1))?;
    drop(s); // flushes
    let s = Store::open(dir.path(), opts)?;
    assert_eq!(s.len(), 21);
    Ok(())
}

#[test]
fn auto_compaction_past_the_dead_ratio() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let opts = Options::new(3).auto_compact(0.5, 10);
    let mut s = Store::open(dir.path(), opts.clone())?;
    s.upsert("c", &recs("x", 20))?;
    s.upsert("c", &recs("x", 10))?; // 10 dead of 30: 33%
    assert_eq!(s.stats().dead_rows, 10);
    s.upsert("c", &recs("x", 20))?; // 30 dead of 50: 60% -> compacts
    assert_eq!(s.stats().dead_rows, 0);
    assert_eq!(s.len(), 20);
    drop(s);
    // A read-only open never compacts.
    let ro = Store::open(dir.path(), opts.read_only())?;
    assert_eq!(ro.len(), 20);
    Ok(())
}

#[test]
fn memory_budget_refuses_growth() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut s = Store::open(dir.path(), Options::new(3).memory_budget(4096))?;
    s.upsert("c", &recs("a", 10))?;
    let bytes = s.stats().file_bytes;
    let e = s.upsert("c", &recs("b", 200)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::OutOfMemory, "{e}");
    assert_eq!((s.len(), s.stats().file_bytes), (10, bytes));
    drop(s);
    let mut s = Store::open(dir.path(), Options::new(3))?;
    s.upsert("c", &recs("b", 500))?;
    drop(s);
    let e = Store::open(dir.path(), Options::new(3).memory_budget(4096)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::OutOfMemory, "{e}");
    Ok(())
}

#[test]
fn crash_debris_from_compaction_is_ignored() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    three_batches(dir.path());
    // A compaction that died before its rename leaves a temporary file.
    std::fs::File::create(dir.path().join("data.nidus.new"))?.write_all(b"half a file")?;
    let s = Store::open(dir.path(), Options::new(3))?;
    assert_eq!(s.len(), 30);
    assert!(!dir.path().join("data.nidus.new").exists());
    Ok(())
}

#[test]
fn a_writer_that_lost_its_lock_refuses_to_write() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut s = Store::open(dir.path(), Options::new(3))?;
    s.upsert("c", &recs("a", 2))?;
    let bytes = s.stats().file_bytes;
    // Someone removed the lock file by hand: another writer could start.
    std::fs::remove_file(dir.path().join("lock"))?;
    let e = s.upsert("c", &recs("b", 2)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Locked, "{e}");
    assert_eq!(e.kind(), s.compact().unwrap_err().kind());
    assert_eq!((s.len(), s.stats().file_bytes), (2, bytes));
    Ok(())
}

/// A crash while creating the store leaves a data file shorter than its
/// header (SPEC.md §6.2). No batch can be in it (create syncs the header
/// before it returns), but the store does not guess: every open refuses the
/// file naming offset 0 and leaves its bytes alone for the operator.
#[test]
fn a_header_cut_short_by_a_crash_during_create_is_refused_untouched() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    drop(Store::open(dir.path(), Options::new(3))?);
    let path = data(dir.path());
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)?
        .set_len(10)?;
    let before = std::fs::read(&path)?;
    for opts in [Options::new(3), Options::existing().read_only()] {
        let err = Store::open(dir.path(), opts).unwrap_err();
        assert_eq!(err.offset(), Some(0), "{err}");
    }
    assert_eq!(std::fs::read(&path)?, before);
    Ok(())
}
