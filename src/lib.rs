//! nidus: a small, pure-Rust, embeddable vector store.
//!
//! Exact (brute-force) cosine search over a single append-only file.
//! **Start at [`Store`]**: open one with [`Options`], write [`Record`]s,
//! search with [`Search`] and [`Filter`], read [`Hit`]s; every call fails
//! with one [`Error`] whose [`ErrorKind`] a program can match. SPEC.md (at
//! the repository root) states the file format and every guarantee.
//! Past one machine, [`search_shards`] merges the exact top-k of several
//! stores, and [`shard_of`] is the shard function that routes writes.
//!
//! Two layers are re-exported for the uses that go around a store:
//! - [`format`](mod@format): the reading API of the data file ([`format::Reader`]),
//!   for inspection and export tools that only read;
//! - [`kernel`]: the exact top-k scan over a plain `f32` matrix
//!   ([`kernel::top_k`], [`kernel::top_k_batch`], [`kernel::dot`],
//!   [`kernel::normalize`]), for callers that keep their own vectors.
//!
//! ```
//! use nidus::{Filter, Options, Record, Search, Store};
//! # fn main() -> anyhow::Result<()> {
//! # let dir = tempfile::tempdir()?;
//! let mut store = Store::open(dir.path(), Options::new(3))?;
//! store.upsert("docs", &[
//!     Record::new("a", [1.0, 0.0, 0.0]).attr("path", "src/a.rs").attr("year", 2024),
//!     Record::new("b", [0.0, 1.0, 0.0]).attr("path", "docs/b.md").attr("year", 2023),
//! ])?;
//! let hits = store.search(&[1.0, 0.1, 0.0], Search::top(1).collection("docs"))?;
//! assert_eq!(hits[0].id, "a");
//! let hits = store.search(&[1.0, 0.1, 0.0], Search::top(1).filter(Filter::glob("path", "docs/*")))?;
//! assert_eq!(hits[0].id, "b");
//! # Ok(()) }
//! ```
//!
//! # Limits
//!
//! The limits on what a store accepts sit beside the types they limit:
//! [`Record`] ids ([`MAX_ID_BYTES`]) and attributes ([`MAX_ATTRS_BYTES`]),
//! collection and attribute names ([`MAX_NAME_BYTES`]), [`Filter`] nesting
//! ([`MAX_FILTER_DEPTH`]) and the dimension [`Options::new`] may ask for
//! ([`MAX_DIMENSION`]). Going past one is [`ErrorKind::InvalidInput`].
//!
//! ```
//! use nidus::{ErrorKind, MAX_ID_BYTES, Options, Record, Store};
//! # let tmp = tempfile::tempdir()?;
//! let mut store = Store::open(tmp.path(), Options::new(2))?;
//! let long = "x".repeat(MAX_ID_BYTES + 1);
//! let err = store.upsert("docs", &[Record::new(long, [1.0, 0.0])]).unwrap_err();
//! assert_eq!(err.kind(), ErrorKind::InvalidInput);
//! store.upsert("docs", &[Record::new("x".repeat(MAX_ID_BYTES), [1.0, 0.0])])?;
//! # Ok::<(), anyhow::Error>(())
//! ```
#![forbid(unsafe_code)]

/// The README's Rust examples, compiled and run as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

pub use nidus_format as format;
pub use nidus_kernel as kernel;
// Plumbing of the store (writer exclusion, and the store crate under its
// own name, whose API is re-exported below): reachable, not in the docs.
#[doc(hidden)]
pub use nidus_lock as lock;
#[doc(hidden)]
pub use nidus_store as store;

/// The file-system seam of a store ([`Options::file_system`]): every read
/// and write goes through it, so tests can inject faults.
pub use nidus_store::io;
pub use nidus_store::{
    AttrSelection, Attributes, CollectionInfo, Durability, Error, ErrorKind, FileEnd, Filter,
    Footprint, Hit, IntOutOfRange, OpenReport, Options, Record, RecordRef, Result, Scan, Search,
    ShardHit, Stats, Store, Value, merge_top_k, search_shards, search_shards_batch, shard_hash,
    shard_of,
};

// The limits, beside the types they limit (see the crate docs).
pub use nidus_store::{
    MAX_ATTRS_BYTES, MAX_DIMENSION, MAX_FILTER_DEPTH, MAX_ID_BYTES, MAX_NAME_BYTES,
};

// The defaults of `Options::auto_compact`.
pub use nidus_store::{DEFAULT_AUTO_COMPACT_MIN_DEAD, DEFAULT_AUTO_COMPACT_RATIO};
