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
    Footprint, Hit, OpenReport, Options, Record, RecordRef, Result, Search, ShardHit, Stats, Store,
    Value, merge_top_k, search_shards, search_shards_batch, shard_hash, shard_of,
};
