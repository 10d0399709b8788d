//! [`Store`]: one directory, one append-only data file, every record in
//! memory (SPEC.md §6.4, §6.5, §7). Each job has its own room:
//!
//! - `open`: opening, creating and recovering the data file;
//! - `read`: lookups, listings and reports ([`RecordRef`]);
//! - `filtered`: counts, ids and records selected by a filter alone;
//! - `search`: what a search asks for, what it returns, and the scan;
//! - `write`: upserts, deletes, collections, metadata and flushing;
//! - `big_upsert`: upserts big enough to copy on a second thread while
//!   the frame is written;
//! - `refresh`: a read-only store catching up with its writer;
//! - `compact`: rewriting the live records into a new file;
//! - `budget`: the memory-budget arithmetic.

mod big_upsert;
mod budget;
mod compact;
mod filtered;
mod open;
mod read;
mod refresh;
mod search;
mod write;

use std::path::PathBuf;

use nidus_format::Header;
use nidus_lock::WriteLock;

use crate::info::OpenReport;
use crate::io::{FileId, StoreFile};
use crate::model::Model;
use crate::options::Options;

pub use read::RecordRef;
use refresh::LastFrame;
pub use search::{AttrSelection, Hit, Search};

/// The temporary file a new data file is built in (creation, compaction).
/// Only the lock holder writes it, so one fixed name is enough.
pub(super) const NEW_FILE: &str = "data.nidus.new";

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
    /// Read-only stores: the last batch applied. A writer cuts a frame back
    /// after a failed sync (§7.3), possibly after this reader applied it;
    /// refresh checks the frame is still there.
    last_frame: Option<LastFrame>,
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

impl Drop for Store {
    fn drop(&mut self) {
        // Deferred writes become durable at the latest here; errors have no
        // one to go to (call flush() to see them).
        let _ = self.flush();
    }
}
