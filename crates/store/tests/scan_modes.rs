//! `Scan::Int8` against `Scan::F32` on the same writes: every call gives
//! the same answer, bit for bit (scores compared by their bits), through
//! writes in the same process (synced and deferred), refresh, compaction
//! and reopen; and a data file damaged after open is reported, never
//! served.

mod common;

use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use nidus_store::io::{FileId, FileSystem, OpenMode, StdFileSystem, StoreFile};
use nidus_store::{Durability, ErrorKind, Filter, Hit, Options, Record, Scan, Search, Store};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    }
    fn vector(&mut self, dim: usize) -> Vec<f32> {
        (0..dim).map(|_| self.unit()).collect()
    }
}

/// The kinds of data the bound finds easy and hard.
#[derive(Debug, Clone, Copy)]
enum Data {
    Random,
    /// A few tight clusters.
    Clustered,
    /// One vector with tiny perturbations: the bound cannot prune.
    NearDuplicate,
    /// Rows whose scores differ in the last bits.
    TinyNormDifference,
}

fn make_vector(data: Data, rng: &mut Rng, dim: usize, i: u64) -> Vec<f32> {
    match data {
        Data::Random => rng.vector(dim),
        Data::Clustered => {
            let centre = common::vector(i % 4, dim);
            centre
                .iter()
                .map(|c| c + 0.02 * rng.unit())
                .collect::<Vec<_>>()
        }
        Data::NearDuplicate => {
            let base = common::vector(7, dim);
            let j = rng.below(dim as u64) as usize;
            let mut v = base;
            v[j] += 1e-4 * rng.unit();
            v
        }
        Data::TinyNormDifference => {
            let base = common::vector(9, dim);
            let scale = 1.0 + (rng.below(16) as f32) * f32::EPSILON;
            base.iter().map(|x| x * scale).collect()
        }
    }
}

const COLLECTIONS: [&str; 3] = ["a", "b", "c"];

/// A hit as text, the score by its bits.
fn show(hits: &[Hit]) -> Vec<String> {
    hits.iter()
        .map(|h| {
            format!(
                "{}/{} {:08x} {:?} {:?}",
                h.collection,
                h.id,
                h.score.to_bits(),
                h.attrs,
                h.vector
                    .as_ref()
                    .map(|v| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>())
            )
        })
        .collect()
}

fn searches() -> Vec<Search> {
    let filters = [
        None,
        Some(Filter::lt("n", 50)),
        Some(Filter::eq("tag", "t1").or(Filter::missing("tag"))),
        // Matches nothing.
        Some(Filter::eq("tag", "none")),
    ];
    let scopes: [&[&str]; 4] = [&["a"], &["a", "c"], &["b", "c", "b"], &COLLECTIONS];
    let mut out = Vec::new();
    for (i, scope) in scopes.iter().enumerate() {
        for (j, f) in filters.iter().enumerate() {
            for k in [1, 10, 100, 100_000] {
                let mut s = Search::top(k);
                if *scope != COLLECTIONS {
                    s = s.collections(scope.iter().copied());
                }
                if let Some(f) = f {
                    s = s.filter(f.clone());
                }
                if (i + j + k) % 3 == 0 {
                    s = s.min_score(0.05);
                }
                if k == 10 && j == 0 {
                    s = s.include_vectors();
                }
                out.push(s);
            }
        }
    }
    out
}

/// Every search (single and batch) and every record agree between `f32`
/// and `int8`.
fn assert_same(f32_store: &Store, int8_store: &Store, queries: &[Vec<f32>], what: &str) {
    assert_eq!(f32_store.scan(), Scan::F32);
    assert_eq!(int8_store.scan(), Scan::Int8);
    for s in searches() {
        let present = s_collections_exist(f32_store, &s);
        for q in queries {
            let a = f32_store.search(q, &s);
            let b = int8_store.search(q, &s);
            match (a, b) {
                (Ok(a), Ok(b)) => assert_eq!(show(&a), show(&b), "{what}: {s:?}"),
                (Err(a), Err(b)) => {
                    assert!(!present, "{what}: {a}");
                    assert_eq!(a.kind(), b.kind(), "{what}");
                }
                (a, b) => panic!("{what}: {s:?}: f32 {a:?} vs int8 {b:?}"),
            }
        }
        if present {
            let a = f32_store.search_batch(queries, &s).unwrap();
            let b = int8_store.search_batch(queries, &s).unwrap();
            assert_eq!(a.len(), b.len());
            for (a, b) in a.iter().zip(&b) {
                assert_eq!(show(a), show(b), "{what}: batch {s:?}");
            }
        }
    }
    assert_eq!(f32_store.len(), int8_store.len(), "{what}");
    for c in f32_store.collections() {
        let a: Vec<_> = f32_store
            .records(&c.name)
            .unwrap()
            .map(|r| r.to_record().unwrap())
            .collect();
        let b: Vec<_> = int8_store
            .records(&c.name)
            .unwrap()
            .map(|r| r.to_record().unwrap())
            .collect();
        assert_eq!(a.len(), b.len(), "{what}");
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.id, y.id);
            assert_eq!(bits(&x.vector), bits(&y.vector), "{what}: {}", x.id);
            assert_eq!(x.attrs, y.attrs);
            let got = int8_store.get(&c.name, &x.id).unwrap().unwrap();
            assert_eq!(bits(&got.vector), bits(&x.vector));
        }
    }
}

fn s_collections_exist(store: &Store, s: &Search) -> bool {
    // Searches name collections through their Debug form only; probe.
    store.search(&[1.0; 1].repeat(store.dimension()), s).is_ok()
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// Random records into `c` from `rng` (same sequence for both stores).
fn records(rng: &mut Rng, data: Data, dim: usize, n: u64) -> Vec<Record> {
    (0..n)
        .map(|_| {
            let id = rng.below(150);
            let mut r = Record::new(format!("x{id}"), make_vector(data, rng, dim, id))
                .attr("n", rng.below(100) as i64);
            if rng.below(3) > 0 {
                r = r.attr("tag", format!("t{}", rng.below(3)));
            }
            r
        })
        .collect()
}

fn queries(rng: &mut Rng, data: Data, dim: usize) -> Vec<Vec<f32>> {
    let mut qs: Vec<Vec<f32>> = (0..3).map(|i| make_vector(data, rng, dim, i)).collect();
    qs.push(rng.vector(dim));
    qs
}

/// The same writes into an `f32` and an `int8` writer, an `int8` reader
/// beside the latter; compared after every step.
fn scenario(data: Data, dim: usize, seed: u64) -> anyhow::Result<()> {
    let (da, db) = (tempfile::tempdir()?, tempfile::tempdir()?);
    let base = Options::new(dim).no_auto_compact().threads(2);
    let mut a = Store::open(da.path(), base.clone())?;
    let mut b = Store::open(db.path(), base.clone().scan(Scan::Int8))?;
    let mut rng = Rng(seed);
    for c in COLLECTIONS {
        a.create_collection(c)?;
        b.create_collection(c)?;
    }
    let mut reader = Store::open(db.path(), base.clone().scan(Scan::Int8).read_only())?;
    for round in 0..12 {
        let c = COLLECTIONS[rng.below(3) as usize];
        match rng.below(5) {
            0 => {
                let ids: Vec<String> = (0..8).map(|_| format!("x{}", rng.below(150))).collect();
                assert_eq!(a.delete(c, &ids)?, b.delete(c, &ids)?);
            }
            1 if round % 4 == 1 => {
                let f = Filter::gt("n", 80);
                assert_eq!(a.delete_where(c, &f)?, b.delete_where(c, &f)?);
            }
            _ => {
                let n = 1 + rng.below(60);
                let recs = records(&mut rng, data, dim, n);
                a.upsert(c, &recs)?;
                b.upsert(c, &recs)?;
            }
        }
        let qs = queries(&mut rng, data, dim);
        assert_same(&a, &b, &qs, &format!("{data:?} d{dim} round {round}"));
        if round % 4 == 3 {
            reader.refresh()?;
            assert_same(&a, &reader, &qs, &format!("{data:?} d{dim} reader {round}"));
        }
    }
    // Deferred writes: rescored from the file before any sync.
    drop(b);
    let mut b = Store::open(
        db.path(),
        base.clone()
            .scan(Scan::Int8)
            .durability(Durability::Deferred),
    )?;
    let recs = records(&mut rng, data, dim, 40);
    a.upsert("b", &recs)?;
    b.upsert("b", &recs)?;
    let qs = queries(&mut rng, data, dim);
    assert_same(&a, &b, &qs, &format!("{data:?} d{dim} deferred"));
    b.flush()?;
    reader.refresh()?;
    assert_same(
        &a,
        &reader,
        &qs,
        &format!("{data:?} d{dim} reader after flush"),
    );
    // Compaction: the writer moves to the new file; the reader keeps the
    // old one (and its offsets) until refresh.
    a.compact()?;
    b.compact()?;
    assert_same(&a, &b, &qs, &format!("{data:?} d{dim} compacted"));
    assert_same(
        &a,
        &reader,
        &qs,
        &format!("{data:?} d{dim} reader on old file"),
    );
    assert!(reader.refresh()? > 0, "the reader reloads the new file");
    assert_same(
        &a,
        &reader,
        &qs,
        &format!("{data:?} d{dim} reader refreshed"),
    );
    // Writes after compaction, then a reopen.
    let recs = records(&mut rng, data, dim, 30);
    a.upsert("c", &recs)?;
    b.upsert("c", &recs)?;
    assert_same(&a, &b, &qs, &format!("{data:?} d{dim} after compaction"));
    drop(b);
    let b = Store::open(db.path(), base.clone().scan(Scan::Int8))?;
    assert_same(&a, &b, &qs, &format!("{data:?} d{dim} reopened"));
    Ok(())
}

#[test]
fn random_data_gives_identical_results_in_both_modes() -> anyhow::Result<()> {
    scenario(Data::Random, 24, 0x1234_5678_9ABC_DEF1)
}

#[test]
fn clustered_data_gives_identical_results_in_both_modes() -> anyhow::Result<()> {
    scenario(Data::Clustered, 20, 0x0F0F_1234_5555_0001)
}

#[test]
fn near_duplicates_give_identical_results_in_both_modes() -> anyhow::Result<()> {
    scenario(Data::NearDuplicate, 16, 0xDEAD_BEEF_0000_0007)
}

#[test]
fn tiny_norm_differences_give_identical_results_in_both_modes() -> anyhow::Result<()> {
    scenario(Data::TinyNormDifference, 12, 0xABCD_0000_1111_2222)
}

/// Both modes over the same file (one writer, one read-only `int8` view).
fn pair(dir: &Path, dim: usize) -> anyhow::Result<(Store, Store)> {
    let a = Store::open(dir, Options::new(dim).read_only())?;
    let b = Store::open(dir, Options::new(dim).read_only().scan(Scan::Int8))?;
    Ok((a, b))
}

#[test]
fn dimensions_1_3_17_and_4096_give_identical_results() -> anyhow::Result<()> {
    for (dim, n) in [(1usize, 200u64), (3, 200), (17, 150), (4096, 40)] {
        let dir = tempfile::tempdir()?;
        let mut rng = Rng(dim as u64 * 31 + 5);
        {
            let mut w = Store::open(dir.path(), Options::new(dim))?;
            for c in COLLECTIONS {
                let recs = records(&mut rng, Data::Random, dim, n / 3);
                w.upsert(c, &recs)?;
            }
        }
        let (a, b) = pair(dir.path(), dim)?;
        let qs = queries(&mut rng, Data::Random, dim);
        assert_same(&a, &b, &qs, &format!("dim {dim}"));
    }
    Ok(())
}

#[test]
fn every_row_deleted_gives_no_hits_in_both_modes() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut rng = Rng(77);
    {
        let mut w = Store::open(dir.path(), Options::new(8).no_auto_compact())?;
        for c in COLLECTIONS {
            let recs = records(&mut rng, Data::Random, 8, 30);
            w.upsert(c, &recs)?;
            w.delete_where(c, Filter::gt("n", -1))?;
        }
        assert_eq!(w.len(), 0);
    }
    let (a, b) = pair(dir.path(), 8)?;
    let qs = queries(&mut rng, Data::Random, 8);
    assert_same(&a, &b, &qs, "all deleted");
    assert!(b.search(&qs[0], Search::top(10))?.is_empty());
    Ok(())
}

#[test]
fn int8_keeps_a_quarter_of_the_vector_bytes() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let dim = 384;
    {
        let mut w = Store::open(dir.path(), Options::new(dim))?;
        let recs: Vec<Record> = (0..500)
            .map(|i| Record::new(format!("r{i}"), common::vector(i, dim)))
            .collect();
        w.upsert("c", &recs)?;
    }
    let (a, b) = pair(dir.path(), dim)?;
    let (fa, fb) = (a.footprint(), b.footprint());
    assert!(fa.vector_bytes >= 500 * dim * 4, "{fa:?}");
    // Codes, scale, bounds and offset: d + 20 bytes per row.
    assert!(fb.vector_bytes <= 500 * (dim + 20) * 11 / 10, "{fb:?}");
    assert!(fb.vector_bytes * 3 < fa.vector_bytes, "{fa:?} {fb:?}");
    assert_eq!(a.stats().resident_bytes, fa.total_bytes);
    assert_eq!(b.stats().resident_bytes, fb.total_bytes);
    assert_eq!(b.stats().scan, Scan::Int8);
    // A budget that holds the codes but not the f32 vectors.
    let budget = fa.total_bytes / 2;
    let e = Store::open(
        dir.path(),
        Options::new(dim).read_only().memory_budget(budget),
    )
    .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::OutOfMemory, "{e}");
    Store::open(
        dir.path(),
        Options::new(dim)
            .read_only()
            .memory_budget(budget)
            .scan(Scan::Int8),
    )?;
    Ok(())
}

/// Counts positioned reads (rescoring's only I/O), and fails them on
/// demand.
#[derive(Debug, Default)]
struct Reads {
    calls: AtomicU64,
    bytes: AtomicU64,
    fail: std::sync::atomic::AtomicBool,
}

#[derive(Debug)]
struct CountingFs(Arc<Reads>);

#[derive(Debug)]
struct CountingFile {
    inner: Box<dyn StoreFile>,
    reads: Arc<Reads>,
}

impl Read for CountingFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf)
    }
}
impl Seek for CountingFile {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.inner.seek(pos)
    }
}
impl Write for CountingFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
impl StoreFile for CountingFile {
    fn sync_data(&mut self) -> io::Result<()> {
        self.inner.sync_data()
    }
    fn set_len(&mut self, len: u64) -> io::Result<()> {
        self.inner.set_len(len)
    }
    fn len(&self) -> io::Result<u64> {
        self.inner.len()
    }
    fn id(&self) -> io::Result<FileId> {
        self.inner.id()
    }
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        if self.reads.fail.load(Ordering::SeqCst) {
            return Err(io::Error::other("injected: EIO on pread"));
        }
        self.reads.calls.fetch_add(1, Ordering::SeqCst);
        self.reads
            .bytes
            .fetch_add(buf.len() as u64, Ordering::SeqCst);
        self.inner.read_exact_at(buf, offset)
    }
}
impl FileSystem for CountingFs {
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Box<dyn StoreFile>> {
        Ok(Box::new(CountingFile {
            inner: StdFileSystem.open(path, mode)?,
            reads: Arc::clone(&self.0),
        }))
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
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

#[test]
fn thousands_of_near_duplicates_cost_about_one_read_of_them() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let dim = 64;
    let n = 4000u64;
    let mut rng = Rng(99);
    {
        let mut w = Store::open(dir.path(), Options::new(dim))?;
        let recs: Vec<Record> = (0..n)
            .map(|i| {
                Record::new(
                    format!("r{i}"),
                    make_vector(Data::NearDuplicate, &mut rng, dim, i),
                )
            })
            .collect();
        w.upsert("c", &recs)?;
    }
    let file_len = std::fs::metadata(dir.path().join("data.nidus"))?.len();
    let reads = Arc::new(Reads::default());
    let fs = Arc::new(CountingFs(Arc::clone(&reads)));
    let a = Store::open(dir.path(), Options::new(dim).read_only())?;
    let b = Store::open(
        dir.path(),
        Options::new(dim)
            .read_only()
            .scan(Scan::Int8)
            .file_system(fs),
    )?;
    let q = common::vector(7, dim);
    let (c0, b0) = (
        reads.calls.load(Ordering::SeqCst),
        reads.bytes.load(Ordering::SeqCst),
    );
    let got = b.search(&q, Search::top(10).no_attrs())?;
    let want = a.search(&q, Search::top(10).no_attrs())?;
    assert_eq!(show(&got), show(&want));
    let calls = reads.calls.load(Ordering::SeqCst) - c0;
    let bytes = reads.bytes.load(Ordering::SeqCst) - b0;
    let rescored = b.rescored_rows();
    assert!(
        rescored > n / 2,
        "near-duplicates defeat the bound: {rescored} rows rescored"
    );
    // Each byte about once (no more than the whole file and a few rows
    // read alone before their stretch proved dense), in a few reads per
    // 16 KiB of file, not one per row.
    assert!(
        bytes <= file_len + (64 << 10),
        "{bytes} bytes read for a {file_len}-byte file"
    );
    let chunks = file_len / (16 << 10) + 1;
    assert!(calls <= 4 * chunks, "{calls} reads for {rescored} rows");
    assert!(calls * 10 <= rescored, "{calls} reads for {rescored} rows");
    Ok(())
}

/// The byte offset of `v` (as stored) in the data file.
fn offset_of(dir: &Path, v: &[f32]) -> u64 {
    let bytes = std::fs::read(dir.join("data.nidus")).unwrap();
    let needle: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .expect("the vector is in the file") as u64
}

#[test]
fn a_file_damaged_after_open_is_reported_with_its_offset_never_served() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let dim = 16;
    {
        let mut w = Store::open(dir.path(), Options::new(dim))?;
        let recs: Vec<Record> = (0..300)
            .map(|i| Record::new(format!("r{i}"), common::vector(i, dim)))
            .collect();
        w.upsert("c", &recs)?;
    }
    let store = Store::open(dir.path(), Options::new(dim).read_only().scan(Scan::Int8))?;
    let q = common::vector(1000, dim);
    let top = store.search(&q, Search::top(1).include_vectors())?;
    let victim = top[0].vector.clone().unwrap();
    let at = offset_of(dir.path(), &victim);
    // Another vector where the top hit's was: a write behind the store's
    // back, after open.
    let other: Vec<u8> = common::vector(5000, dim)
        .iter()
        .map(|x| x / 4.0)
        .flat_map(|x| x.to_le_bytes())
        .collect();
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(dir.path().join("data.nidus"))?;
    f.seek(SeekFrom::Start(at))?;
    f.write_all(&other)?;
    f.sync_all()?;
    drop(f);
    for result in [
        store.search(&q, Search::top(1)),
        store.search(&q, Search::top(10)),
        store
            .search_batch(&[q.clone(), q.clone()], Search::top(5))
            .map(|mut v| v.pop().unwrap()),
    ] {
        let e = result.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
        assert_eq!(e.offset(), Some(at), "{e}");
        assert!(e.path().is_some());
    }
    let e = store.get("c", &top[0].id).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
    assert_eq!(e.offset(), Some(at));
    Ok(())
}

#[test]
fn a_file_cut_after_open_is_reported_as_corrupt() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let dim = 8;
    {
        let mut w = Store::open(dir.path(), Options::new(dim))?;
        let recs: Vec<Record> = (0..100)
            .map(|i| Record::new(format!("r{i}"), common::vector(i, dim)))
            .collect();
        w.upsert("c", &recs)?;
    }
    let store = Store::open(dir.path(), Options::new(dim).read_only().scan(Scan::Int8))?;
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(dir.path().join("data.nidus"))?;
    f.set_len(200)?;
    drop(f);
    let e = store
        .search(&common::vector(3, dim), Search::top(5))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
    assert!(e.offset().is_some(), "{e}");
    Ok(())
}

#[test]
fn a_failed_read_while_rescoring_is_an_io_error_and_the_next_search_works() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let dim = 12;
    let reads = Arc::new(Reads::default());
    let opts = Options::new(dim)
        .scan(Scan::Int8)
        .durability(Durability::Deferred)
        .file_system(Arc::new(CountingFs(Arc::clone(&reads))));
    let mut store = Store::open(dir.path(), opts)?;
    let recs: Vec<Record> = (0..200)
        .map(|i| Record::new(format!("r{i}"), common::vector(i, dim)))
        .collect();
    store.upsert("c", &recs)?;
    let q = common::vector(500, dim);
    let want = show(&store.search(&q, Search::top(5))?);
    let r3 = store.get("c", "r3")?.unwrap();
    reads.fail.store(true, Ordering::SeqCst);
    let e = store.search(&q, Search::top(5)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io, "{e}");
    let e = store.get("c", "r3").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Io, "{e}");
    reads.fail.store(false, Ordering::SeqCst);
    assert_eq!(show(&store.search(&q, Search::top(5))?), want);
    assert_eq!(store.get("c", "r3")?.unwrap(), r3);
    Ok(())
}

#[test]
fn compaction_refuses_a_row_changed_after_open_and_keeps_the_file() -> anyhow::Result<()> {
    let dim = 16;
    // A plausible other vector, and a non-finite one (which no longer
    // quantizes at all): both are rows the store did not load.
    let replacements: [Vec<f32>; 2] = [
        common::vector(5000, dim).iter().map(|x| x / 4.0).collect(),
        vec![f32::NAN; dim],
    ];
    for replacement in replacements {
        let dir = tempfile::tempdir()?;
        let mut w = Store::open(dir.path(), Options::new(dim).scan(Scan::Int8))?;
        let recs: Vec<Record> = (0..300)
            .map(|i| Record::new(format!("r{i}"), common::vector(i, dim)))
            .collect();
        w.upsert("c", &recs)?;
        w.delete("c", &["r0"])?; // something for compaction to drop
        let victim = w.get("c", "r7")?.expect("r7 is live").vector;
        let at = offset_of(dir.path(), &victim);
        let bytes: Vec<u8> = replacement.iter().flat_map(|x| x.to_le_bytes()).collect();
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(dir.path().join("data.nidus"))?;
        f.seek(SeekFrom::Start(at))?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        drop(f);
        let before = std::fs::read(dir.path().join("data.nidus"))?;
        let e = w.compact().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
        assert_eq!(e.offset(), Some(at), "{e}");
        assert_eq!(std::fs::read(dir.path().join("data.nidus"))?, before);
    }
    Ok(())
}
