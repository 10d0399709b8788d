//! nidus: a small, pure-Rust, embeddable vector store.
//!
//! Exact (brute-force) cosine search over a single append-only file. This
//! crate re-exports the store API ([`Store`], [`Options`], [`Record`],
//! [`Search`], [`Filter`], [`Hit`], [`Error`], ...), the search over several
//! stores ([`search_shards`]) with the shard function that routes writes
//! ([`shard_of`]), and the layer crates as modules; see SPEC.md for the file
//! format and every guarantee.
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
pub use nidus_lock as lock;
pub use nidus_store as store;

pub use nidus_store::{
    AttrSelection, Attributes, CollectionInfo, Durability, Error, ErrorKind, FileEnd, Filter,
    Footprint, Hit, IntOutOfRange, OpenReport, Options, Record, RecordRef, Result, Search,
    ShardHit, Stats, Store, Value, merge_top_k, search_shards, search_shards_batch, shard_hash,
    shard_of,
};

// The limits, beside the types they limit (see the crate docs).
pub use nidus_store::{
    MAX_ATTRS_BYTES, MAX_DIMENSION, MAX_FILTER_DEPTH, MAX_ID_BYTES, MAX_NAME_BYTES,
};
