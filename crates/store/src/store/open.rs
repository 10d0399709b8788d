//! Opening a store: creating the directory and data file, loading every
//! batch into memory, and settling a torn or damaged tail (SPEC.md §6.4, §7).

use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use nidus_format::{DATA_FILE, End, HEADER_LEN, Header, MAX_DIMENSION};
use nidus_lock::{HolderInfo, LockError, WriteLock};

use super::budget::check_budget;
use super::{NEW_FILE, Store};
use crate::error::{Error, ErrorKind, Result};
use crate::frame_log;
use crate::info::{FileEnd, OpenReport};
use crate::io::{OpenMode, StoreFile};
use crate::model::Model;
use crate::options::Options;

fn lock_error(e: LockError, dir: &Path) -> Error {
    let kind = match e {
        LockError::Locked { path, holder } => {
            // No source: it would only repeat the message as "store is
            // locked: ...".
            return Error::new(ErrorKind::Locked, held_by(&path, holder.as_deref())).with_path(dir);
        }
        LockError::Io { .. } => ErrorKind::Io,
        _ => ErrorKind::Locked,
    };
    Error::new(kind, e.to_string())
        .with_path(dir)
        .with_source(e)
}

/// Who holds the write lock file `path`. The error's kind already says
/// "store locked"; this says by whom, and whether that is this very process
/// (a second `Store::open` for writing beside a first), which a pid alone
/// does not tell a reader.
fn held_by(path: &Path, holder: Option<&HolderInfo>) -> String {
    match holder {
        Some(h) if h.is_this_process() => format!(
            "{} is held by pid {}, which is this process: the store is already open for \
             writing here. Open it once and share that Store (for example as \
             Arc<RwLock<Store>>), or drop it before opening again",
            path.display(),
            h.pid
        ),
        Some(h) => format!("{} is held by {h}", path.display()),
        None => format!(
            "{} is held by an unknown writer (the lock file is empty, being written, or not \
             a nidus lock record)",
            path.display()
        ),
    }
}

/// The error for a `dir` that is a file: most likely the data file itself
/// (`.../data.nidus`) passed where its directory belongs.
fn not_a_directory(dir: &Path) -> Error {
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let what = if dir.file_name() == Some(DATA_FILE.as_ref()) {
        "is the store's data file"
    } else {
        "is a file"
    };
    Error::invalid(format!(
        "{} {what}, not a store directory: pass the directory that holds it ({})",
        dir.display(),
        parent.display()
    ))
    .with_path(dir)
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
    /// ([`ErrorKind::DimensionMismatch`], naming both, the store's first).
    ///
    /// `dir` is the store's directory, not its data file: passing a file
    /// (such as `.../data.nidus`) is [`ErrorKind::InvalidInput`], naming the
    /// directory to pass instead.
    pub fn open(dir: impl AsRef<Path>, opts: Options) -> Result<Store> {
        let dir = dir.as_ref().to_path_buf();
        if dir.is_file() {
            return Err(not_a_directory(&dir));
        }
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
        let header =
            Header::new(dimension_u32(dim)?).map_err(|e| frame_log::format_error(e, path))?;
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
        let header = frame_log::read_header(&mut *file, &path, len)?;
        let dim = header.dimension as usize;
        if let Some(want) = opts.dimension
            && want != dim
        {
            return Err(Error::open_dimension(dim, want).with_path(&path));
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
        let outcome = frame_log::read_frames(
            &mut *file,
            &path,
            &header,
            HEADER_LEN as u64,
            len,
            threads,
            &mut |batch| {
                check_budget(&model, budget, batch.vector_bytes().len(), batch.ops())
                    .map_err(|e| e.with_path(&path))?;
                model.reserve_for(batch)?;
                model.apply(batch, threads)
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
}
