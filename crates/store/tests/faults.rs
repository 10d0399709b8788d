//! Failures injected through the I/O seam: a failed write, sync, cut-back
//! or rename leaves the file and the store exactly as before, and the next
//! call succeeds (SPEC.md §7.3).

use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use nidus_store::io::{FileId, FileSystem, OpenMode, StdFileSystem, StoreFile};
use nidus_store::{ErrorKind, Options, Record, Search, Store};

/// Switches the tests flip to make the next operations fail.
#[derive(Debug, Default)]
struct Faults {
    /// Writes fail once this many more bytes went through (u64::MAX: never),
    /// after writing what fits: a short write, then ENOSPC.
    write_budget: AtomicU64,
    fail_sync: AtomicBool,
    fail_set_len: AtomicBool,
    fail_rename: AtomicBool,
}

impl Faults {
    fn new() -> Arc<Faults> {
        let f = Faults::default();
        f.write_budget.store(u64::MAX, Ordering::SeqCst);
        Arc::new(f)
    }
    fn heal(&self) {
        self.write_budget.store(u64::MAX, Ordering::SeqCst);
        self.fail_sync.store(false, Ordering::SeqCst);
        self.fail_set_len.store(false, Ordering::SeqCst);
        self.fail_rename.store(false, Ordering::SeqCst);
    }
}

#[derive(Debug)]
struct FaultyFs(Arc<Faults>);

#[derive(Debug)]
struct FaultyFile {
    inner: Box<dyn StoreFile>,
    faults: Arc<Faults>,
}

fn enospc() -> io::Error {
    io::Error::new(
        io::ErrorKind::StorageFull,
        "injected: no space left on device",
    )
}

impl Read for FaultyFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf)
    }
}
impl Seek for FaultyFile {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.inner.seek(pos)
    }
}
impl Write for FaultyFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let budget = self.faults.write_budget.load(Ordering::SeqCst);
        if budget == 0 {
            return Err(enospc());
        }
        let n = buf.len().min(usize::try_from(budget).unwrap_or(usize::MAX));
        let n = self.inner.write(&buf[..n])?;
        if budget != u64::MAX {
            self.faults
                .write_budget
                .store(budget - n as u64, Ordering::SeqCst);
        }
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
impl StoreFile for FaultyFile {
    fn sync_data(&mut self) -> io::Result<()> {
        if self.faults.fail_sync.load(Ordering::SeqCst) {
            return Err(io::Error::other("injected: EIO on fsync"));
        }
        self.inner.sync_data()
    }
    fn set_len(&mut self, len: u64) -> io::Result<()> {
        if self.faults.fail_set_len.load(Ordering::SeqCst) {
            return Err(io::Error::other("injected: EIO on truncate"));
        }
        self.inner.set_len(len)
    }
    fn len(&self) -> io::Result<u64> {
        self.inner.len()
    }
    fn id(&self) -> io::Result<FileId> {
        self.inner.id()
    }
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        self.inner.read_exact_at(buf, offset)
    }
}

impl FileSystem for FaultyFs {
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Box<dyn StoreFile>> {
        Ok(Box::new(FaultyFile {
            inner: StdFileSystem.open(path, mode)?,
            faults: Arc::clone(&self.0),
        }))
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        if self.0.fail_rename.load(Ordering::SeqCst) {
            return Err(io::Error::other("injected: EIO on rename"));
        }
        StdFileSystem.rename(from, to)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        StdFileSystem.sync_dir(dir)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        StdFileSystem.remove_file(path)
    }
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        StdFileSystem.create_dir_all(dir)
    }
    fn id_of(&self, path: &Path) -> io::Result<FileId> {
        StdFileSystem.id_of(path)
    }
}

fn recs(prefix: &str, n: usize) -> Vec<Record> {
    (0..n)
        .map(|i| {
            Record::new(format!("{prefix}{i}"), [1.0 + i as f32, 2.0, -1.0, 0.5])
                .attr("n", i as i64)
        })
        .collect()
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
    faults.write_budget.store(100, Ordering::SeqCst);
    let e = store.upsert("c", &recs("b", 10)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io, "{e}");
    assert!(e.to_string().contains("no space left"), "{e}");
    assert_eq!(snapshot(&store), before);
    assert_eq!(data_len(dir.path()), len, "partial frame cut back");
    faults.heal();

    // fsync fails (EIO): cut back too.
    faults.fail_sync.store(true, Ordering::SeqCst);
    assert_eq!(
        store.delete("c", &["a1"]).unwrap_err().kind(),
        ErrorKind::Io
    );
    assert_eq!(snapshot(&store), before);
    assert_eq!(data_len(dir.path()), len);
    faults.heal();

    // The write fails and so does the cut-back: the next call cuts first.
    faults.write_budget.store(10, Ordering::SeqCst);
    faults.fail_set_len.store(true, Ordering::SeqCst);
    assert_eq!(
        store.upsert("c", &recs("d", 3)).unwrap_err().kind(),
        ErrorKind::Io
    );
    assert_eq!(snapshot(&store), before);
    assert!(data_len(dir.path()) > len, "debris left by the failed cut");
    // Still failing to cut: the next write refuses rather than append after debris.
    faults.write_budget.store(u64::MAX, Ordering::SeqCst);
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

    faults.write_budget.store(500, Ordering::SeqCst);
    assert_eq!(store.compact().unwrap_err().kind(), ErrorKind::Io);
    faults.heal();
    faults.fail_rename.store(true, Ordering::SeqCst);
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
        faults.write_budget.store(budget, Ordering::SeqCst);
        faults.fail_sync.store(fail_sync, Ordering::SeqCst);
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
