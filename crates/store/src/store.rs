//! [`Store`]: open, write, read, search, refresh and compact (SPEC.md §6.4,
//! §6.5, §7).

use std::borrow::Borrow;
use std::collections::BTreeMap;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use nidus_format::{
    Attributes, Batch, DATA_FILE, End, FRAME_HEADER_LEN, HEADER_LEN, Header, MAX_DIMENSION,
    MAX_PAYLOAD_LEN, Op, UpsertFrame,
};
use nidus_lock::{LockError, WriteLock};

use crate::attrs::{Keys, RowAttrs};
use crate::error::{Error, ErrorKind, Result};
use crate::filter::{Compiled, Filter};
use crate::info::{CollectionInfo, FileEnd, Footprint, OpenReport, Stats};
use crate::io::{FileId, OpenMode, StoreFile};
use crate::log;
use crate::model::Model;
use crate::options::{Durability, Options};
use crate::record::Record;
use crate::scan::{self, ScanSpec};
use crate::search::{AttrSelection, Hit, Search};
use crate::stage;
use crate::validate;

/// The temporary file a new data file is built in (creation, compaction).
/// Only the lock holder writes it, so one fixed name is enough.
const NEW_FILE: &str = "data.nidus.new";

/// Upserts with at least this many vector floats (1 MiB) copy their
/// vectors into memory on a second thread while the frame is written.
const OVERLAP_MIN_FLOATS: usize = 1 << 18;

/// Compaction writes upserts in batches of at most this many rows.
const COMPACT_BATCH_ROWS: usize = 8192;

/// An embeddable vector store: one directory, one append-only data file,
/// all records in memory, exact cosine search.
///
/// `Store` is `Send + Sync`. Reads and searches take `&self` and may run in
/// parallel from many threads; writes take `&mut self`. For one writer and
/// many searchers in a process, share an `Arc<RwLock<Store>>`: searchers
/// take the read lock (in parallel), the writer the write lock for the
/// duration of one write call.
///
/// ```
/// use std::sync::{Arc, RwLock};
/// use nidus_store::{Options, Record, Search, Store};
/// # fn main() -> anyhow::Result<()> {
/// # let dir = tempfile::tempdir()?;
/// let store = Arc::new(RwLock::new(Store::open(dir.path(), Options::new(2))?));
/// let searcher = {
///     let store = Arc::clone(&store);
///     std::thread::spawn(move || -> nidus_store::Result<usize> {
///         let guard = store.read().expect("no writer panicked");
///         Ok(guard.search(&[1.0, 0.0], Search::top(5))?.len())
///     })
/// };
/// store.write().expect("no searcher panicked").upsert("docs", &[Record::new("a", [1.0, 0.0])])?;
/// let seen = searcher.join().expect("searcher thread")?;
/// assert!(seen <= 1);
/// # Ok(()) }
/// ```
pub struct Store {
    dir: PathBuf,
    path: PathBuf,
    opts: Options,
    header: Header,
    model: Model,
    file: Box<dyn StoreFile>,
    file_id: FileId,
    /// End of the last whole frame applied: where the next append goes, or
    /// where a read-only refresh resumes.
    end: u64,
    /// A failed append could not be cut back: cut before the next one.
    cut_pending: bool,
    /// Deferred durability: frames written since the last sync.
    unsynced: bool,
    /// Read-only stores: where the last batch applied starts and its frame
    /// header (checksum, length), or `None` if that could not be read. A
    /// writer cuts a frame back after a failed sync (§7.3), possibly after
    /// this reader applied it; refresh checks the frame is still there.
    last_frame: Option<(u64, Option<[u8; 12]>)>,
    /// A sync of the data file failed: the kernel may have dropped the
    /// unsynced pages (SPEC.md §6.1 item 5), so a later sync proves nothing.
    sync_failed: bool,
    lock: Option<WriteLock>,
    report: OpenReport,
    /// The frame buffer, reused: a fresh 15 MB allocation per call costs
    /// thousands of page faults.
    frame: Vec<u8>,
    /// The ops of a big upsert's frame (encoded apart from its vector
    /// block, which other threads read meanwhile), reused.
    ops: Vec<u8>,
    /// Auto-compaction waits for at least this many dead rows (raised after
    /// a failed attempt, so a failing disk is not retried on every write).
    auto_compact_floor: usize,
}

const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<Store>();
};

/// A borrowed view of one stored record (see [`Store::records`]).
#[derive(Clone, Copy)]
pub struct RecordRef<'a> {
    model: &'a Model,
    row: usize,
}

impl std::fmt::Debug for RecordRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordRef")
            .field("collection", &self.collection())
            .field("id", &self.id())
            .finish_non_exhaustive()
    }
}

/// A summary, never the contents (a store can hold gigabytes of vectors).
impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("dir", &self.dir)
            .field("dimension", &self.model.dim)
            .field("records", &self.model.live_rows())
            .field("dead_rows", &self.model.dead_rows())
            .field("file_bytes", &self.end)
            .field("read_only", &self.is_read_only())
            .finish_non_exhaustive()
    }
}

impl<'a> RecordRef<'a> {
    /// The record's collection.
    pub fn collection(&self) -> &'a str {
        self.model.row_collection(self.row)
    }
    /// The record's id.
    pub fn id(&self) -> &'a str {
        self.model.row_id(self.row)
    }
    /// The stored unit vector, bit-exact as in the file.
    pub fn vector(&self) -> &'a [f32] {
        self.model.row_vector(self.row)
    }
    /// The record's attributes.
    pub fn attrs(&self) -> Attributes {
        self.model.keys.expand(self.model.row_attrs(self.row))
    }
    /// An owned copy.
    pub fn to_record(&self) -> Record {
        Record {
            id: self.id().to_owned(),
            vector: self.vector().to_vec(),
            attrs: self.attrs(),
        }
    }
}

fn lock_error(e: LockError, dir: &Path) -> Error {
    let kind = match e {
        LockError::Locked { .. } => ErrorKind::Locked,
        LockError::Io { .. } => ErrorKind::Io,
        _ => ErrorKind::Locked,
    };
    Error::new(kind, e.to_string())
        .with_path(dir)
        .with_source(e)
}

fn dimension_u32(d: usize) -> Result<u32> {
    u32::try_from(d)
        .ok()
        .filter(|&d| (1..=MAX_DIMENSION).contains(&d))
        .ok_or_else(|| {
            Error::invalid(format!(
                "dimension {d} is out of range: a store holds vectors of 1..={MAX_DIMENSION} elements"
            ))
        })
}

impl Store {
    /// Opens the store in directory `dir`, creating it (directory and data
    /// file) if it is missing and `opts` allow (see [`Options`]).
    ///
    /// A writable open takes the directory's write lock
    /// ([`ErrorKind::Locked`] if another writer has it), and cuts a torn
    /// tail (a batch a crashed writer did not finish). A read-only open
    /// takes no lock and writes nothing. Either refuses a file damaged
    /// mid-way ([`ErrorKind::Corrupt`], with the byte offset) unless
    /// [`Options::open_valid_prefix`], and a file of another dimension
    /// ([`ErrorKind::DimensionMismatch`], naming both).
    pub fn open(dir: impl AsRef<Path>, opts: Options) -> Result<Store> {
        let dir = dir.as_ref().to_path_buf();
        let path = dir.join(DATA_FILE);
        if let Some(d) = opts.dimension {
            dimension_u32(d)?;
        }
        let fs = opts.fs.clone();
        let missing = |dir: &Path| {
            Error::not_found(format!("no nidus store in {}", dir.display())).with_path(dir)
        };
        if opts.read_only {
            let file = fs.open(&path, OpenMode::Read).map_err(|e| {
                if e.kind() == io::ErrorKind::NotFound {
                    missing(&dir)
                } else {
                    Error::io("opening the data file", &path, e)
                }
            })?;
            return Store::load(dir, path, file, None, opts);
        }
        if !dir.is_dir() {
            if !opts.create || opts.dimension.is_none() {
                return Err(missing(&dir));
            }
            // The directories about to be created, deepest first.
            let created: Vec<PathBuf> = dir
                .ancestors()
                .take_while(|a| !a.as_os_str().is_empty() && !a.exists())
                .map(Path::to_path_buf)
                .collect();
            fs.create_dir_all(&dir)
                .map_err(|e| Error::io("creating the store directory", &dir, e))?;
            // A new directory entry is durable only once its parent is
            // synced (SPEC.md §6.1 item 6); without this a power cut could
            // take the whole store, acknowledged writes and all.
            for d in created.iter().rev() {
                let parent = d
                    .parent()
                    .filter(|p| !p.as_os_str().is_empty())
                    .unwrap_or(Path::new("."));
                fs.sync_dir(parent)
                    .map_err(|e| Error::io("syncing a new directory's parent", parent, e))?;
            }
        }
        let lock = WriteLock::acquire(&dir, opts.lock_ttl).map_err(|e| lock_error(e, &dir))?;
        let file = match fs.open(&path, OpenMode::ReadWrite) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let Some(dim) = opts.dimension.filter(|_| opts.create) else {
                    return Err(missing(&dir));
                };
                Store::create_file(&opts, &dir, &path, dim)?;
                fs.open(&path, OpenMode::ReadWrite)
                    .map_err(|e| Error::io("opening the new data file", &path, e))?
            }
            Err(e) => return Err(Error::io("opening the data file", &path, e)),
        };
        // Debris of a creation or compaction that crashed before its rename.
        let _ = fs.remove_file(&dir.join(NEW_FILE));
        Store::load(dir, path, file, Some(lock), opts)
    }

    /// Creates an empty data file atomically: header into a temporary
    /// file, sync, rename into place, sync the directory. A crash leaves no
    /// data file or a whole one, never a torn header.
    fn create_file(opts: &Options, dir: &Path, path: &Path, dim: usize) -> Result<()> {
        let header = Header::new(dimension_u32(dim)?).map_err(|e| log::format_error(e, path))?;
        let tmp = dir.join(NEW_FILE);
        let fs = &opts.fs;
        let _ = fs.remove_file(&tmp);
        let io_err = |e| Error::io("creating the data file", &tmp, e);
        let mut f = fs.open(&tmp, OpenMode::CreateNew).map_err(io_err)?;
        f.write_all(&header.encode()).map_err(io_err)?;
        f.sync_data().map_err(io_err)?;
        drop(f);
        fs.rename(&tmp, path).map_err(io_err)?;
        fs.sync_dir(dir)
            .map_err(|e| Error::io("syncing the store directory", dir, e))
    }

    fn load(
        dir: PathBuf,
        path: PathBuf,
        mut file: Box<dyn StoreFile>,
        lock: Option<WriteLock>,
        opts: Options,
    ) -> Result<Store> {
        let io_err = |what: &'static str, path: &Path| {
            let path = path.to_path_buf();
            move |e| Error::io(what, &path, e)
        };
        let len = file.len().map_err(io_err("reading the data file", &path))?;
        let file_id = file.id().map_err(io_err("reading the data file", &path))?;
        let header = log::read_header(&mut *file, &path, len)?;
        let dim = header.dimension as usize;
        if let Some(want) = opts.dimension
            && want != dim
        {
            return Err(Error::dimension(want, dim, "the store's data file").with_path(&path));
        }
        let mut model = Model::new(dim);
        // Reserve the vector buffer once, from the file size (an upper
        // bound on the rows): no regrowth copies while loading, and pages
        // never written are never touched.
        let mut est_floats =
            (len.saturating_sub(HEADER_LEN as u64) / (dim as u64 * 4)) as usize * dim;
        if let Some(budget) = opts.memory_budget {
            // Never reserve past the budget; the per-batch check refuses
            // the load with a clear error if the file needs more.
            est_floats = est_floats.min(budget / 4);
        }
        model.vectors.try_reserve_exact(est_floats)?;
        let budget = opts.memory_budget;
        let threads = opts.threads;
        let outcome = log::read_frames(
            &mut *file,
            &path,
            &header,
            HEADER_LEN as u64,
            len,
            threads,
            &mut |batch| {
                check_budget_ref(&model, budget, batch).map_err(|e| e.with_path(&path))?;
                model.reserve_for_ref(batch)?;
                model.apply_ref(batch, threads)
            },
        )?;
        // The file-size estimate counted ids and attributes as vector
        // bytes, and the other arrays grew by doubling: give the spare
        // capacity back.
        model.shrink_to_fit();
        let mut store = Store {
            dir,
            path,
            header,
            model,
            file,
            file_id,
            end: outcome.valid_end,
            last_frame: None,
            cut_pending: false,
            unsynced: false,
            sync_failed: false,
            lock,
            report: OpenReport {
                batches: outcome.batches,
                valid_bytes: outcome.valid_end,
                end: FileEnd::Clean,
            },
            frame: Vec::new(),
            ops: Vec::new(),
            auto_compact_floor: opts.auto_compact_min_dead,
            opts,
        };
        store.report.end = store.settle_end(outcome.end, len)?;
        if store.lock.is_none() {
            store.remember_last_frame(outcome.last_frame);
        }
        Ok(store)
    }

    /// Acts on how the file ended: cut a torn tail (writable), refuse or
    /// set aside a damaged one.
    fn settle_end(&mut self, end: End, len: u64) -> Result<FileEnd> {
        let writable = self.lock.is_some();
        match end {
            End::TornTail { offset, dropped } => {
                if writable {
                    self.file
                        .set_len(offset)
                        .and_then(|()| self.file.sync_data())
                        .map_err(|e| Error::io("cutting a torn tail", &self.path, e))?;
                }
                Ok(FileEnd::Torn {
                    offset,
                    bytes: dropped,
                })
            }
            End::Corrupt { offset, reason } => {
                if !self.opts.open_valid_prefix {
                    return Err(Error::corrupt(
                        format!(
                            "{reason}; the {offset} bytes before it are intact \
                             (Options::open_valid_prefix opens them)"
                        ),
                        &self.path,
                        offset,
                    ));
                }
                let saved_to = if writable {
                    Some(self.set_aside(offset, len)?)
                } else {
                    None
                };
                Ok(FileEnd::Corrupt {
                    offset,
                    reason,
                    saved_to,
                })
            }
            _ => Ok(FileEnd::Clean),
        }
    }

    /// Copies the bytes from `offset` to `len` into a side file, syncs it,
    /// then cuts the data file at `offset`.
    fn set_aside(&mut self, offset: u64, len: u64) -> Result<PathBuf> {
        let side = self.dir.join(format!("{DATA_FILE}.corrupt-{offset}"));
        let io_err = |e| Error::io("saving the damaged tail", &side, e);
        let _ = self.opts.fs.remove_file(&side);
        let mut out = self
            .opts
            .fs
            .open(&side, OpenMode::CreateNew)
            .map_err(io_err)?;
        self.file.seek(SeekFrom::Start(offset)).map_err(io_err)?;
        let copied =
            io::copy(&mut (&mut *self.file).take(len - offset), &mut out).map_err(io_err)?;
        if copied != len - offset {
            return Err(io_err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the data file shrank while its damaged tail was being saved",
            )));
        }
        out.sync_data().map_err(io_err)?;
        self.opts.fs.sync_dir(&self.dir).map_err(io_err)?;
        self.file
            .set_len(offset)
            .and_then(|()| self.file.sync_data())
            .map_err(|e| Error::io("cutting the damaged tail", &self.path, e))?;
        Ok(side)
    }

    // ----- reads -------------------------------------------------------

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The vector dimension.
    pub fn dimension(&self) -> usize {
        self.model.dim
    }

    /// Whether the store was opened read-only.
    pub fn is_read_only(&self) -> bool {
        self.lock.is_none()
    }

    /// Live records in all collections.
    pub fn len(&self) -> usize {
        self.model.live_rows()
    }

    /// Whether there are no live records.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn collection_exists(&self, name: &str) -> Result<&crate::model::Collection> {
        self.model.collection(name).ok_or_else(|| {
            Error::not_found(format!("collection {name:?} does not exist")).with_path(&self.dir)
        })
    }

    /// Live records in `collection` ([`ErrorKind::NotFound`] if missing).
    pub fn count(&self, collection: &str) -> Result<usize> {
        Ok(self.collection_exists(collection)?.live.count())
    }

    /// Whether `collection` exists.
    pub fn has_collection(&self, collection: &str) -> bool {
        self.model.collection(collection).is_some()
    }

    /// The record `id` of `collection`: `Ok(None)` if there is no such
    /// record, [`ErrorKind::NotFound`] if there is no such collection. The
    /// vector is the stored unit vector.
    pub fn get(&self, collection: &str, id: &str) -> Result<Option<Record>> {
        self.collection_exists(collection)?;
        Ok(self.model.find(collection, id).map(|row| {
            RecordRef {
                model: &self.model,
                row,
            }
            .to_record()
        }))
    }

    /// The live records of `collection` in insertion order (an overwrite
    /// moves a record to the end), borrowed: vectors are bit-exact views.
    pub fn records(&self, collection: &str) -> Result<impl Iterator<Item = RecordRef<'_>> + '_> {
        let c = self.collection_exists(collection)?;
        let model = &self.model;
        Ok(c.live.iter().map(move |row| RecordRef { model, row }))
    }

    /// All collections in name order, with record counts and metadata.
    pub fn collections(&self) -> Vec<CollectionInfo> {
        self.model
            .collections()
            .map(|c| CollectionInfo {
                name: c.name.clone(),
                records: c.live.count(),
                metadata: c.metadata.clone(),
            })
            .collect()
    }

    /// The metadata map of `collection`.
    pub fn metadata(&self, collection: &str) -> Result<BTreeMap<String, String>> {
        Ok(self.collection_exists(collection)?.metadata.clone())
    }

    /// Counts and sizes (no scan).
    pub fn stats(&self) -> Stats {
        Stats {
            dimension: self.model.dim,
            collections: self.model.collections().count(),
            records: self.model.live_rows(),
            dead_rows: self.model.dead_rows(),
            file_bytes: self.end,
            read_only: self.is_read_only(),
        }
    }

    /// Memory held, by part (see [`Footprint`]).
    pub fn footprint(&self) -> Footprint {
        let (vector_bytes, id_bytes, attr_bytes, index_bytes) = self.model.heap_bytes();
        Footprint {
            live_rows: self.model.live_rows(),
            dead_rows: self.model.dead_rows(),
            vector_bytes,
            id_bytes,
            attr_bytes,
            index_bytes,
            total_bytes: vector_bytes + id_bytes + attr_bytes + index_bytes,
        }
    }

    /// What the last open, refresh or compaction read or left: batches,
    /// valid bytes and how the file ended (verify-style access).
    pub fn open_report(&self) -> &OpenReport {
        &self.report
    }

    // ----- search ------------------------------------------------------

    /// The best `search.k()` records for `query` by cosine similarity, best
    /// first, ties by insertion order. `query` must have the store's
    /// dimension, finite components and not be zero; it is normalized here.
    ///
    /// Filters are evaluated before ranking: `k` hits come back whenever
    /// `k` records match. Naming a missing collection is
    /// [`ErrorKind::NotFound`].
    pub fn search(&self, query: &[f32], search: impl Borrow<Search>) -> Result<Vec<Hit>> {
        let mut hits = self.search_batch(&[query], search)?;
        Ok(hits.pop().unwrap_or_default())
    }

    /// [`Store::search`] for many queries in one pass over the vectors.
    /// Returns one hit list per query, in order.
    pub fn search_batch<Q: AsRef<[f32]>>(
        &self,
        queries: &[Q],
        search: impl Borrow<Search>,
    ) -> Result<Vec<Vec<Hit>>> {
        let search = search.borrow();
        let dim = self.model.dim;
        let mut units = Vec::new();
        units.try_reserve_exact(queries.len().saturating_mul(dim))?;
        for (i, q) in queries.iter().enumerate() {
            let what = || {
                if queries.len() == 1 {
                    "the query".to_owned()
                } else {
                    format!("query {i}")
                }
            };
            validate::push_unit(dim, q.as_ref(), &what, &mut units)?;
        }
        if let Some(m) = search.min_score
            && m.is_nan()
        {
            return Err(Error::invalid("min_score must not be NaN"));
        }
        if let Some(names) = &search.collections {
            for n in names {
                self.collection_exists(n)?;
            }
        }
        let compiled = match &search.filter {
            Some(f) => Some(Compiled::new(f, &self.model.keys)?),
            None => None,
        };
        let scope = self.model.scope(search.collections.as_deref());
        let filtered;
        let (rows, allowed, candidates) = match &compiled {
            None => {
                let count = match scope.words() {
                    None => scope.rows().len(),
                    Some(w) => w.iter().map(|w| w.count_ones() as usize).sum(),
                };
                (scope.rows(), scope.words(), count)
            }
            Some(c) => {
                filtered = self.model.filter_scope(&scope, c)?;
                let count = filtered.iter().map(|w| w.count_ones() as usize).sum();
                (scope.rows(), Some(filtered.as_slice()), count)
            }
        };
        let k = search.k.min(candidates);
        if k == 0 || queries.is_empty() {
            return Ok(vec![Vec::new(); queries.len()]);
        }
        let spec = ScanSpec {
            k,
            allowed,
            min_score: search.min_score,
            threads: search.threads.unwrap_or(self.opts.threads),
        };
        let matrix = &self.model.vectors[rows.start * dim..rows.end * dim];
        let ranked = scan::top_k_batch(&units, matrix, dim, &spec)?;
        Ok(ranked
            .into_iter()
            .map(|list| {
                list.into_iter()
                    .map(|r| self.hit(rows.start + r.row, r.score, search))
                    .collect()
            })
            .collect())
    }

    fn hit(&self, row: usize, score: f32, search: &Search) -> Hit {
        let m = &self.model;
        let attrs = match &search.attrs {
            AttrSelection::All => m.keys.expand(m.row_attrs(row)),
            AttrSelection::None => Attributes::new(),
            AttrSelection::Only(names) => names
                .iter()
                .filter_map(|n| {
                    let k = m.keys.get(n)?;
                    crate::attrs::lookup(m.row_attrs(row), k).map(|v| (n.clone(), v.clone()))
                })
                .collect(),
        };
        Hit {
            collection: m.row_collection(row).to_owned(),
            id: m.row_id(row).to_owned(),
            score,
            attrs,
            vector: search.with_vectors.then(|| m.row_vector(row).to_vec()),
        }
    }

    // ----- writes ------------------------------------------------------

    fn writable(&self, operation: &str) -> Result<()> {
        if self.lock.is_none() {
            return Err(Error::read_only(operation).with_path(&self.dir));
        }
        Ok(())
    }

    /// Checks, right before a write, that the write lock is still ours
    /// (SPEC.md §6.3): if it was removed or taken over, writing could
    /// interleave with another writer, so the store refuses.
    fn verify_lock(&self) -> Result<()> {
        match &self.lock {
            Some(lock) => lock.verify().map_err(|e| {
                Error::new(
                    ErrorKind::Locked,
                    format!("{e}; this store no longer holds its write lock: reopen it"),
                )
                .with_path(&self.dir)
                .with_source(e)
            }),
            None => Err(Error::read_only("writing").with_path(&self.dir)),
        }
    }

    /// Writes `batch` as one frame (synced unless deferred), then applies
    /// it to memory. Nothing changes, on disk or in memory, unless the
    /// write succeeded.
    fn commit(&mut self, mut batch: Batch) -> Result<()> {
        self.retry_cut()?;
        check_budget(&self.model, self.opts.memory_budget, &batch)?;
        self.model.reserve_for(&batch)?;
        self.verify_lock()?;
        self.frame.clear();
        nidus_format::encode_frame(&batch, &self.header, &mut self.frame)
            .map_err(|e| log::format_error(e, &self.path))?;
        let sync = self.opts.durability == Durability::Sync;
        if let Err((e, cut)) = log::append(&mut *self.file, self.end, &[&self.frame], sync) {
            self.cut_pending = !cut;
            return Err(Error::io("appending a batch", &self.path, e));
        }
        self.wrote_frame(self.frame.len(), sync);
        self.model.apply(&mut batch);
        self.maybe_auto_compact();
        Ok(())
    }

    /// A failed append could not be cut back: cut it before anything else
    /// is appended (nothing is ever appended after debris).
    fn retry_cut(&mut self) -> Result<()> {
        if self.cut_pending {
            self.file
                .set_len(self.end)
                .map_err(|e| Error::io("cutting back a failed append", &self.path, e))?;
            self.cut_pending = false;
        }
        Ok(())
    }

    /// Book-keeping after a frame was appended (and synced if `sync`).
    fn wrote_frame(&mut self, written: usize, sync: bool) {
        self.end += written as u64;
        self.unsynced |= !sync;
        self.trim_buffers();
    }

    /// Inserts or replaces `records` in `collection` (created if missing),
    /// as one atomic batch: all of them or, on error, none. Vectors are
    /// stored normalized. Within one call a repeated id: the last wins.
    pub fn upsert(&mut self, collection: &str, records: &[Record]) -> Result<()> {
        self.writable("upsert")?;
        validate::name("a collection name", collection)?;
        if records.is_empty() {
            return Ok(());
        }
        // Small batches: the unit vectors go straight into the vector
        // buffer, past the last row (invisible to searches, which see rows
        // below `Model::rows`), and the frame is encoded from there. Big
        // batches are checked and normalized on two cores straight into
        // the frame's vector block; then the copy from there into the
        // vector buffer (page faults into fresh memory, the slowest part)
        // starts on a second thread while this one encodes the ops,
        // checksums, writes and syncs the frame, and joins the copy when
        // that is done.
        let floats = records.len().saturating_mul(self.model.dim);
        let result = if floats < OVERLAP_MIN_FLOATS {
            self.upsert_small(collection, records)
        } else {
            self.upsert_big(collection, records)
        };
        if result.is_err() {
            self.model.unstage_vectors();
        }
        self.trim_buffers();
        result
    }

    /// Gives back frame buffers over 64 MiB (kept otherwise: a fresh 15 MB
    /// allocation per call costs thousands of page faults), whether the
    /// call that grew them succeeded or not.
    fn trim_buffers(&mut self) {
        if self.frame.capacity() > 64 << 20 {
            self.frame = Vec::new();
        }
        if self.ops.capacity() > 64 << 20 {
            self.ops = Vec::new();
        }
    }

    /// [`Store::upsert`] of a small batch, on the calling thread.
    fn upsert_small(&mut self, collection: &str, records: &[Record]) -> Result<()> {
        let id_bytes = stage::check_records(collection, records)?;
        self.model
            .vectors
            .try_reserve(records.len() * self.model.dim)?;
        for r in records {
            validate::push_unit(
                self.model.dim,
                &r.vector,
                &|| format!("the vector of record {:?}", r.id),
                &mut self.model.vectors,
            )?;
        }
        self.prepare_upserts(collection, records, id_bytes)?;
        let sync = self.opts.durability == Durability::Sync;
        let staged = self.model.rows() * self.model.dim;
        self.frame.clear();
        nidus_format::encode_upsert_frame(
            &self.header,
            collection,
            &self.model.vectors[staged..],
            records.iter().map(|r| (r.id.as_str(), &r.attrs)),
            &mut self.frame,
        )
        .map_err(|e| log::format_error(e, &self.path))?;
        // Interning attribute names ahead of the write is harmless if it
        // fails: names are never removed.
        let attrs = compact_attrs(&mut self.model.keys, records)?;
        if let Err((e, cut)) = log::append(&mut *self.file, self.end, &[&self.frame], sync) {
            self.cut_pending = !cut;
            return Err(Error::io("appending a batch", &self.path, e));
        }
        self.finish_upserts(collection, records, attrs, self.frame.len(), sync);
        Ok(())
    }

    /// [`Store::upsert`] of a big batch, on two threads.
    fn upsert_big(&mut self, collection: &str, records: &[Record]) -> Result<()> {
        let dim = self.model.dim;
        let rows = records.len();
        let id_bytes = stage::check_records_in_halves(collection, records, self.opts.threads)?;
        let frame_bytes = rows
            .saturating_mul(dim * 4)
            .saturating_add(FRAME_HEADER_LEN + 8);
        self.frame.clear();
        // Out of memory is an error, not an abort; a frame over the format's
        // limit is refused by `begin` before it allocates.
        if frame_bytes <= MAX_PAYLOAD_LEN as usize + FRAME_HEADER_LEN {
            self.frame.try_reserve_exact(frame_bytes)?;
        }
        let layout = UpsertFrame::begin(&self.header, rows, &mut self.frame)
            .map_err(|e| log::format_error(e, &self.path))?;
        stage::write_units(
            records,
            dim,
            self.opts.threads,
            &mut self.frame[layout.vectors()],
        )?;
        self.prepare_upserts(collection, records, id_bytes)?;
        let sync = self.opts.durability == Durability::Sync;
        let threads = self.opts.threads;
        let Store {
            path,
            file,
            frame,
            ops,
            model,
            end,
            cut_pending,
            ..
        } = self;
        let (head, body) = frame
            .split_first_chunk_mut::<FRAME_HEADER_LEN>()
            .expect("UpsertFrame::begin laid out a frame header");
        let body: &[u8] = body;
        let block = &body[layout.vectors().start - FRAME_HEADER_LEN..];
        // The ops, the checksum, the attributes and the write, while the
        // rows are copied into the vector buffer (reserved first: if that
        // fails, nothing runs and nothing was written).
        let attrs =
            nidus_kernel::extend_from_le_bytes_while(&mut model.vectors, block, threads, || {
                let items = records.iter().map(|r| (r.id.as_str(), &r.attrs));
                layout
                    .finish(collection, items, head, body, ops)
                    .map_err(|e| log::format_error(e, path))?;
                let attrs = compact_attrs(&mut model.keys, records)?;
                if let Err((e, cut)) = log::append(&mut **file, *end, &[head, body, ops], sync) {
                    *cut_pending = !cut;
                    return Err(Error::io("appending a batch", path, e));
                }
                Ok(attrs)
            })??;
        let written = self.frame.len() + self.ops.len();
        self.finish_upserts(collection, records, attrs, written, sync);
        Ok(())
    }

    /// What both upsert paths do once the rows are staged: cut back a
    /// failed append, check the memory budget, reserve the row arrays, and
    /// make sure the lock is still ours.
    fn prepare_upserts(
        &mut self,
        collection: &str,
        records: &[Record],
        id_bytes: usize,
    ) -> Result<()> {
        self.retry_cut()?;
        if let Some(budget) = self.opts.memory_budget {
            let growth = records.len() * self.model.dim * 4
                + records
                    .iter()
                    .map(|r| r.id.len() + 8 + 16 + 4 + 24 + r.attrs.len() * 48)
                    .sum::<usize>();
            refuse_past_budget(&self.model, budget, records.len(), growth)?;
        }
        self.model
            .reserve_upserts(collection, records.len(), id_bytes)?;
        self.verify_lock()
    }

    /// What both upsert paths do once the frame (`written` bytes) is in the
    /// file: the rows become part of the store.
    fn finish_upserts(
        &mut self,
        collection: &str,
        records: &[Record],
        attrs: Vec<RowAttrs>,
        written: usize,
        sync: bool,
    ) {
        self.wrote_frame(written, sync);
        self.model
            .apply_upserts(collection, records.iter().map(|r| r.id.as_str()).zip(attrs));
        self.maybe_auto_compact();
    }

    /// Deletes the records `ids` of `collection`; returns how many existed.
    /// Missing ids are skipped; a missing collection is
    /// [`ErrorKind::NotFound`].
    pub fn delete<S: AsRef<str>>(&mut self, collection: &str, ids: &[S]) -> Result<usize> {
        self.writable("delete")?;
        self.collection_exists(collection)?;
        let mut seen = std::collections::HashSet::new();
        let ops: Vec<Op> = ids
            .iter()
            .map(AsRef::as_ref)
            .filter(|id| self.model.find(collection, id).is_some() && seen.insert(*id))
            .map(|id| Op::Delete {
                collection: collection.to_owned(),
                id: id.to_owned(),
            })
            .collect();
        self.commit_deletes(ops)
    }

    /// Deletes every record of `collection` matching `filter`, as one
    /// batch; returns how many.
    pub fn delete_where(&mut self, collection: &str, filter: &Filter) -> Result<usize> {
        self.writable("delete_where")?;
        let c = self.collection_exists(collection)?;
        let compiled = Compiled::new(filter, &self.model.keys)?;
        let ops: Vec<Op> = c
            .live
            .iter()
            .filter(|&row| compiled.matches(self.model.row_attrs(row)))
            .map(|row| Op::Delete {
                collection: collection.to_owned(),
                id: self.model.row_id(row).to_owned(),
            })
            .collect();
        self.commit_deletes(ops)
    }

    /// Commits `ops` (deletes of live records) as one batch, writing nothing
    /// when there are none; returns how many records were deleted.
    fn commit_deletes(&mut self, ops: Vec<Op>) -> Result<usize> {
        let n = ops.len();
        if n > 0 {
            self.commit(Batch {
                ops,
                vectors: Vec::new(),
            })?;
        }
        Ok(n)
    }

    /// Creates an empty collection; returns false (writing nothing) if it
    /// already exists.
    pub fn create_collection(&mut self, name: &str) -> Result<bool> {
        self.writable("create_collection")?;
        validate::name("a collection name", name)?;
        if self.has_collection(name) {
            return Ok(false);
        }
        self.commit(Batch {
            ops: vec![Op::CreateCollection {
                name: name.to_owned(),
            }],
            vectors: Vec::new(),
        })?;
        Ok(true)
    }

    /// Drops a collection with its records and metadata
    /// ([`ErrorKind::NotFound`] if missing).
    pub fn drop_collection(&mut self, name: &str) -> Result<()> {
        self.writable("drop_collection")?;
        self.collection_exists(name)?;
        self.commit(Batch {
            ops: vec![Op::DropCollection {
                name: name.to_owned(),
            }],
            vectors: Vec::new(),
        })
    }

    /// Sets metadata `key` of `collection` to `value`.
    pub fn set_metadata(&mut self, collection: &str, key: &str, value: &str) -> Result<()> {
        self.writable("set_metadata")?;
        self.collection_exists(collection)?;
        validate::name("a metadata key", key)?;
        if value.len() > validate::MAX_ATTRS_BYTES {
            return Err(Error::invalid(format!(
                "metadata value for {key:?} is {} bytes, over the limit of {}",
                value.len(),
                validate::MAX_ATTRS_BYTES
            )));
        }
        self.commit(Batch {
            ops: vec![Op::SetMetadata {
                collection: collection.to_owned(),
                key: key.to_owned(),
                value: Some(value.to_owned()),
            }],
            vectors: Vec::new(),
        })
    }

    /// Removes metadata `key` of `collection`; returns whether it existed.
    pub fn remove_metadata(&mut self, collection: &str, key: &str) -> Result<bool> {
        self.writable("remove_metadata")?;
        if !self
            .collection_exists(collection)?
            .metadata
            .contains_key(key)
        {
            return Ok(false);
        }
        self.commit(Batch {
            ops: vec![Op::SetMetadata {
                collection: collection.to_owned(),
                key: key.to_owned(),
                value: None,
            }],
            vectors: Vec::new(),
        })?;
        Ok(true)
    }

    /// Makes every write so far durable (a no-op unless
    /// [`Durability::Deferred`]).
    ///
    /// After a failed sync the kernel may have dropped the unsynced pages
    /// while a retried sync still succeeds (SPEC.md §6.1 item 5), so the
    /// next flush rewrites the store from memory (a compaction, §6.5)
    /// instead of trusting the old file; it returns `Ok` only once that
    /// rewrite is durable.
    pub fn flush(&mut self) -> Result<()> {
        if self.sync_failed {
            self.compact()?;
            return Ok(());
        }
        if self.unsynced {
            if let Err(e) = self.file.sync_data() {
                self.sync_failed = true;
                return Err(Error::io("syncing the data file", &self.path, e));
            }
            self.unsynced = false;
        }
        Ok(())
    }

    // ----- refresh and compaction ---------------------------------------

    /// Brings a read-only store up to date with its writer: reads only the
    /// frames appended since the last open or refresh, or, if the data file
    /// was replaced by a compaction, reloads it. An unfinished batch at the
    /// end (the writer is mid-append) is left for the next refresh. Returns
    /// the number of batches applied (all of them after a reload). On a
    /// writable store this is a no-op returning 0.
    pub fn refresh(&mut self) -> Result<u64> {
        if !self.is_read_only() {
            return Ok(0);
        }
        let fs = self.opts.fs.clone();
        let replaced = match fs.id_of(&self.path) {
            Ok(id) => id != self.file_id,
            Err(e) => return Err(Error::io("checking the data file", &self.path, e)),
        };
        let len = self
            .file
            .len()
            .map_err(|e| Error::io("reading the data file", &self.path, e))?;
        // A writer that cut back a frame this store applied (its sync
        // failed) may have written another in its place: start over.
        let rolled_back = match self.last_frame {
            Some((at, Some(head))) if len >= self.end => {
                log::frame_head(&mut *self.file, at)
                    .map_err(|e| Error::io("reading the data file", &self.path, e))?
                    != head
            }
            Some((_, None)) => true,
            _ => false,
        };
        if replaced || len < self.end || rolled_back {
            let fresh = Store::open(&self.dir, self.opts.clone().read_only())?;
            let batches = fresh.report.batches;
            *self = fresh;
            return Ok(batches);
        }
        if len == self.end {
            return Ok(0);
        }
        let budget = self.opts.memory_budget;
        let threads = self.opts.threads;
        let model = &mut self.model;
        let outcome = log::read_frames(
            &mut *self.file,
            &self.path,
            &self.header,
            self.end,
            len,
            threads,
            &mut |batch| {
                check_budget_ref(model, budget, batch)?;
                model.reserve_for_ref(batch)?;
                model.apply_ref(batch, threads)
            },
        )?;
        self.end = outcome.valid_end;
        self.remember_last_frame(outcome.last_frame);
        self.report.batches += outcome.batches;
        self.report.valid_bytes = outcome.valid_end;
        self.report.end = match outcome.end {
            End::Corrupt { offset, reason } => {
                let e = FileEnd::Corrupt {
                    offset,
                    reason: reason.clone(),
                    saved_to: None,
                };
                if !self.opts.open_valid_prefix {
                    return Err(Error::corrupt(reason, &self.path, offset));
                }
                e
            }
            End::TornTail { offset, dropped } => FileEnd::Torn {
                offset,
                bytes: dropped,
            },
            _ => FileEnd::Clean,
        };
        Ok(outcome.batches)
    }

    /// Records the frame header of the last batch applied (read-only
    /// stores), for [`Store::refresh`]'s check; an unreadable one makes the
    /// next refresh reload.
    fn remember_last_frame(&mut self, at: Option<u64>) {
        if let Some(at) = at {
            self.last_frame = Some((at, log::frame_head(&mut *self.file, at).ok()));
        }
    }

    fn maybe_auto_compact(&mut self) {
        let Some(ratio) = self.opts.auto_compact else {
            return;
        };
        let dead = self.model.dead_rows();
        if dead < self.auto_compact_floor || (dead as f64) <= ratio * self.model.rows() as f64 {
            return;
        }
        if self.compact().is_err() {
            // The write itself succeeded; the old file is whole. Try again
            // once twice as many rows are dead.
            self.auto_compact_floor = dead.saturating_mul(2);
        } else {
            self.auto_compact_floor = self.opts.auto_compact_min_dead;
        }
    }

    /// Rewrites the live records into a new data file (temporary file,
    /// sync, rename over the old one, sync of the directory) and drops dead
    /// rows from memory. A crash at any point leaves the old file or the
    /// new one, whole; an error before the rename leaves everything as it
    /// was. Also makes every earlier write durable.
    pub fn compact(&mut self) -> Result<()> {
        self.writable("compact")?;
        self.verify_lock()?;
        let tmp = self.dir.join(NEW_FILE);
        let fs = self.opts.fs.clone();
        let _ = fs.remove_file(&tmp);
        let written = self.write_compacted(&tmp);
        let (mut out, len) = match written {
            Ok(written) => written,
            Err(e) => {
                let _ = fs.remove_file(&tmp);
                return Err(e);
            }
        };
        if let Err(e) = fs.rename(&tmp, &self.path) {
            let _ = fs.remove_file(&tmp);
            return Err(Error::io(
                "renaming the compacted file into place",
                &self.path,
                e,
            ));
        }
        // From here the new file is the store: switch to it whatever happens.
        // The length is what was written, not what fstat says: a failed
        // fstat must never move the append position (to 0, over the header).
        let _ = out.seek(SeekFrom::Start(len));
        let id = out.id();
        self.file = out;
        self.end = len;
        self.unsynced = false;
        self.sync_failed = false;
        self.cut_pending = false;
        let dir_synced = fs.sync_dir(&self.dir);
        // The in-memory compaction only renumbers rows; if it cannot get
        // memory, the state stays logically identical, just not smaller.
        let _ = self.model.compact();
        self.report = OpenReport {
            batches: self.report.batches,
            valid_bytes: len,
            end: FileEnd::Clean,
        };
        match id {
            Ok(id) => self.file_id = id,
            Err(e) => return Err(Error::io("reading the compacted file", &self.path, e)),
        }
        dir_synced
            .map_err(|e| Error::io("syncing the store directory after compaction", &self.dir, e))
    }

    /// Writes and syncs the compacted file; returns it and its length.
    fn write_compacted(&mut self, tmp: &Path) -> Result<(Box<dyn StoreFile>, u64)> {
        let io_err = |e| Error::io("writing the compacted file", tmp, e);
        let mut out = self
            .opts
            .fs
            .open(tmp, OpenMode::CreateNew)
            .map_err(io_err)?;
        out.write_all(&self.header.encode()).map_err(io_err)?;
        let mut len = HEADER_LEN as u64;
        let model = &self.model;
        let mut frames = Vec::new();
        let mut batch = Batch::default();
        for c in model.collections_by_slot() {
            batch.ops.push(Op::CreateCollection {
                name: c.name.clone(),
            });
            for (k, v) in &c.metadata {
                batch.ops.push(Op::SetMetadata {
                    collection: c.name.clone(),
                    key: k.clone(),
                    value: Some(v.clone()),
                });
            }
        }
        let mut flush = |batch: &mut Batch, out: &mut Box<dyn StoreFile>| -> Result<()> {
            if batch.ops.is_empty() {
                return Ok(());
            }
            frames.clear();
            nidus_format::encode_frame(batch, &self.header, &mut frames)
                .map_err(|e| log::format_error(e, tmp))?;
            out.write_all(&frames).map_err(io_err)?;
            len += frames.len() as u64;
            batch.ops.clear();
            batch.vectors.clear();
            Ok(())
        };
        flush(&mut batch, &mut out)?;
        for row in model.live.iter() {
            batch.ops.push(Op::Upsert {
                collection: model.row_collection(row).to_owned(),
                id: model.row_id(row).to_owned(),
                attrs: model.keys.expand(model.row_attrs(row)),
            });
            batch.vectors.extend_from_slice(model.row_vector(row));
            if batch.ops.len() >= COMPACT_BATCH_ROWS {
                flush(&mut batch, &mut out)?;
            }
        }
        flush(&mut batch, &mut out)?;
        out.sync_data().map_err(io_err)?;
        Ok((out, len))
    }
}

/// Refuses `batch` if it would take the model past `budget` bytes.
/// The records' attributes in the store's compact form (interning their
/// names).
fn compact_attrs(keys: &mut Keys, records: &[Record]) -> Result<Vec<RowAttrs>> {
    let mut attrs = Vec::new();
    attrs.try_reserve_exact(records.len())?;
    attrs.extend(records.iter().map(|r| keys.compact(&r.attrs)));
    Ok(attrs)
}

fn check_budget(model: &Model, budget: Option<usize>, batch: &Batch) -> Result<()> {
    let Some(budget) = budget else {
        return Ok(());
    };
    let growth: usize = batch.vectors.len() * 4
        + batch
            .ops
            .iter()
            .map(|op| match op {
                Op::Upsert { id, attrs, .. } => id.len() + 8 + 16 + 4 + 24 + attrs.len() * 48,
                _ => 0,
            })
            .sum::<usize>();
    refuse_past_budget(
        model,
        budget,
        batch.vectors.len() / model.dim.max(1),
        growth,
    )
}

/// [`check_budget`] for a batch read from the file: the encoded sizes
/// bound the growth (a row costs its vector, its id and about three times
/// its encoded attributes in memory).
fn check_budget_ref(
    model: &Model,
    budget: Option<usize>,
    batch: &nidus_format::BatchRef<'_>,
) -> Result<()> {
    let Some(budget) = budget else {
        return Ok(());
    };
    let rows = batch.row_count();
    let growth = batch.vector_bytes().len() + rows * (8 + 16 + 4 + 24);
    let growth = growth
        + batch
            .ops()
            .map(|op| match op {
                nidus_format::OpRef::Upsert { id, attrs, .. } => {
                    id.len() + attrs.len() * 48 + attrs.as_bytes().len()
                }
                _ => 0,
            })
            .sum::<usize>();
    refuse_past_budget(model, budget, rows, growth)
}

fn refuse_past_budget(model: &Model, budget: usize, upserts: usize, growth: usize) -> Result<()> {
    let (v, i, a, x) = model.heap_bytes_used();
    let now = v + i + a + x;
    if now + growth > budget {
        return Err(Error::oom(format!(
            "{upserts} more records would take the store to about {} bytes, over its memory budget of {budget} bytes",
            now + growth
        )));
    }
    Ok(())
}

impl Drop for Store {
    fn drop(&mut self) {
        // Deferred writes become durable at the latest here; errors have no
        // one to go to (call flush() to see them).
        let _ = self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_big_upsert_gives_back_a_frame_buffer_over_64_mib() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", Path::new("."), e))?;
        let dim = 1024;
        let mut store = Store::open(dir.path(), Options::new(dim).threads(1))?;
        // 17,000 rows of 4 KiB: a 70 MB frame, refused at its first row.
        let mut records: Vec<Record> = (0..17_000)
            .map(|i| Record::new(format!("r{i}"), vec![1.0f32; dim]))
            .collect();
        records[0].vector[0] = f32::NAN;
        let e = store.upsert("c", &records).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
        assert_eq!(store.frame.capacity(), 0, "the 70 MB frame was kept");
        assert_eq!(store.len(), 0);
        Ok(())
    }
}
