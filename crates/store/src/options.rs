//! How to open a store: [`Options`].

use std::sync::Arc;
use std::time::Duration;

use crate::io::{FileSystem, StdFileSystem};

/// When a write call's batch becomes durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// Every write call syncs its batch to disk before returning (default).
    #[default]
    Sync,
    /// Write calls return once the batch is written to the OS; it becomes
    /// durable at the next [`Store::flush`](crate::Store::flush) (or drop, or
    /// compaction). For bulk loads: a crash loses at most the unsynced calls,
    /// whole batches at a time, never a part of one.
    Deferred,
}

/// What a store keeps in memory to search with (see SPEC.md §7.6). Both
/// give the same results, bit for bit, for every call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Scan {
    /// Every row's `f32` vector stays in memory and searches scan it
    /// (4 bytes per dimension per row).
    #[default]
    F32,
    /// Every row keeps int8 codes, a scale and two error bounds (`d + 12`
    /// bytes) and its vector's offset in the data file (8 bytes), not its
    /// `f32` vector. Searches scan the codes and read from the file, with
    /// positioned reads, only the rows whose score interval still reaches
    /// the top `k`, then rescore them exactly: the hits are those of
    /// [`Scan::F32`], bit for bit. `get`, `records` and hit vectors are read
    /// from the file too.
    Int8,
}

/// Options for [`Store::open`](crate::Store::open): the builder every open
/// goes through.
///
/// Builder convention (shared with [`Search`](crate::Search)): a method
/// that takes a value sets it (`durability(..)`, `threads(..)`); a switch
/// takes no argument and says what it changes from the default. A switch
/// that turns off something on by default is `no_<thing>()`
/// ([`no_create`](Options::no_create), [`no_auto_compact`](Options::no_auto_compact));
/// one that turns on something off by default says what it does
/// ([`read_only`](Options::read_only), [`open_valid_prefix`](Options::open_valid_prefix)).
///
/// ```
/// use nidus_store::{Durability, Options};
/// let opts = Options::new(384).durability(Durability::Deferred).memory_budget(1 << 30);
/// assert_eq!(opts.dimension(), Some(384));
/// ```
#[derive(Debug, Clone)]
pub struct Options {
    pub(crate) dimension: Option<usize>,
    pub(crate) read_only: bool,
    pub(crate) create: bool,
    pub(crate) durability: Durability,
    pub(crate) open_valid_prefix: bool,
    pub(crate) memory_budget: Option<usize>,
    pub(crate) auto_compact: Option<f64>,
    pub(crate) auto_compact_min_dead: usize,
    pub(crate) threads: usize,
    pub(crate) lock_ttl: Duration,
    pub(crate) fs: Arc<dyn FileSystem>,
    pub(crate) scan: Scan,
}

/// The default dead-row ratio past which a writable store compacts itself.
pub const DEFAULT_AUTO_COMPACT_RATIO: f64 = 0.5;
/// Below this many dead rows a store never compacts itself (not worth it).
pub const DEFAULT_AUTO_COMPACT_MIN_DEAD: usize = 4096;

impl Options {
    /// Options for a store of `dimension`-element vectors: opens it read-write
    /// (creating it if missing), syncing every write, auto-compacting past
    /// [`DEFAULT_AUTO_COMPACT_RATIO`]. Opening an existing store of another
    /// dimension fails with [`ErrorKind::DimensionMismatch`](crate::ErrorKind).
    pub fn new(dimension: usize) -> Options {
        Options {
            dimension: Some(dimension),
            ..Options::existing()
        }
    }

    /// Options that take the dimension from the existing store (for tools
    /// that inspect stores); opening a missing store with them fails with
    /// [`ErrorKind::NotFound`](crate::ErrorKind).
    pub fn existing() -> Options {
        Options {
            dimension: None,
            read_only: false,
            create: true,
            durability: Durability::Sync,
            open_valid_prefix: false,
            memory_budget: None,
            auto_compact: Some(DEFAULT_AUTO_COMPACT_RATIO),
            auto_compact_min_dead: DEFAULT_AUTO_COMPACT_MIN_DEAD,
            threads: 0,
            lock_ttl: Duration::from_secs(30),
            fs: Arc::new(StdFileSystem),
            scan: Scan::default(),
        }
    }

    /// The dimension these options ask for, if any.
    pub fn dimension(&self) -> Option<usize> {
        self.dimension
    }

    /// Opens read-only: takes no lock, never writes (not even a torn tail's
    /// truncation), refuses every write call with
    /// [`ErrorKind::ReadOnly`](crate::ErrorKind); see
    /// [`Store::refresh`](crate::Store::refresh). The store must exist.
    pub fn read_only(mut self) -> Options {
        self.read_only = true;
        self
    }

    /// Refuses to create a missing store: a writable open of a missing
    /// store then fails with [`ErrorKind::NotFound`](crate::ErrorKind)
    /// (by default it creates one).
    pub fn no_create(mut self) -> Options {
        self.create = false;
        self
    }

    /// When write calls become durable (default [`Durability::Sync`]).
    pub fn durability(mut self, durability: Durability) -> Options {
        self.durability = durability;
        self
    }

    /// On mid-file corruption, open the valid prefix instead of failing.
    /// A read-only open just stops there; a writable open first copies the
    /// bytes from the damage on to a `.corrupt-<offset>` file beside the data
    /// file (nothing is thrown away), then truncates. See
    /// [`Store::open_report`](crate::Store::open_report).
    pub fn open_valid_prefix(mut self) -> Options {
        self.open_valid_prefix = true;
        self
    }

    /// Refuses (with [`ErrorKind::OutOfMemory`](crate::ErrorKind)) any write
    /// or load that would take the store's memory past `bytes`.
    pub fn memory_budget(mut self, bytes: usize) -> Options {
        self.memory_budget = Some(bytes);
        self
    }

    /// Compacts after a write once dead rows exceed `ratio` of all rows (and
    /// at least `min_dead_rows`). `ratio` is clamped to `0.0..=1.0`.
    pub fn auto_compact(mut self, ratio: f64, min_dead_rows: usize) -> Options {
        self.auto_compact = Some(if ratio.is_nan() {
            1.0
        } else {
            ratio.clamp(0.0, 1.0)
        });
        self.auto_compact_min_dead = min_dead_rows;
        self
    }

    /// Never compacts automatically; [`Store::compact`](crate::Store::compact) still works.
    pub fn no_auto_compact(mut self) -> Options {
        self.auto_compact = None;
        self
    }

    /// Threads the store may use (0 = all available cores, the default):
    /// the default for searches, and whether opening, refreshing and big
    /// upserts may use a second thread (1 keeps them on the calling
    /// thread; more than two gain nothing there).
    pub fn threads(mut self, threads: usize) -> Options {
        self.threads = threads;
        self
    }

    /// How long a writer's lock counts as held without being refreshed
    /// before another writer may take it over (SPEC.md §6.3).
    pub fn lock_ttl(mut self, ttl: Duration) -> Options {
        self.lock_ttl = ttl;
        self
    }

    /// What stays in memory to search with (default [`Scan::F32`]): the
    /// `f32` vectors, or int8 codes with exact rescoring from the file.
    /// Results are the same either way.
    pub fn scan(mut self, scan: Scan) -> Options {
        self.scan = scan;
        self
    }

    /// The [`Scan`] these options ask for.
    pub fn scan_mode(&self) -> Scan {
        self.scan
    }

    /// Routes all file I/O through `fs` (fault injection in tests).
    pub fn file_system(mut self, fs: Arc<dyn FileSystem>) -> Options {
        self.fs = fs;
        self
    }
}

/// `threads` as given to [`Options::threads`], with 0 resolved to the
/// cores available (asked once: on Linux the answer comes from reading
/// cgroup files, too slow for every `refresh`).
pub(crate) fn resolve_threads(threads: usize) -> usize {
    static AVAILABLE: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    match threads {
        0 => *AVAILABLE.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
        n => n,
    }
}
