//! nidus-store: the embeddable vector store applications use.
//!
//! A [`Store`] is a directory holding one append-only data file (the
//! `nidus-format` crate) with every record in memory: collections of records
//! (string id, unit vector, typed attributes) sharing one dimension, exact
//! cosine search through the `nidus-kernel` SIMD scan, attribute filters
//! applied before ranking, one writer per directory (`nidus-lock`) and any
//! number of read-only readers beside it. SPEC.md §6.4, §6.5 and §7 (at the
//! repository root) state every guarantee; items here cite them.
//!
//! ```
//! use nidus_store::{ErrorKind, Filter, Options, Record, Search, Store};
//!
//! # fn main() -> nidus_store::Result<()> {
//! # let tmp = tempfile::tempdir().expect("temp dir");
//! # let dir = tmp.path();
//! let mut store = Store::open(dir, Options::new(2))?;
//! store.upsert("notes", &[
//!     Record::new("n1", [1.0, 0.0]).attr("tag", "rust"),
//!     Record::new("n2", [0.0, 1.0]).attr("tag", "db"),
//! ])?;
//! let hits = store.search(&[0.8, 0.6], Search::top(1).filter(Filter::eq("tag", "db")))?;
//! assert_eq!(hits[0].id, "n2");
//!
//! // Errors are typed: a program can tell the cases apart.
//! let err = store.upsert("notes", &[Record::new("n3", [1.0, 2.0, 3.0])]).unwrap_err();
//! assert_eq!(err.kind(), ErrorKind::DimensionMismatch);
//! # Ok(())
//! # }
//! ```
//!
//! Design decisions:
//! - **Write, then apply.** A write call validates everything, reserves the
//!   memory it will need, writes (and syncs) one frame, and only then changes
//!   memory, so a failed call leaves file and memory as they were.
//! - **One contiguous vector buffer.** All rows, live and dead, sit in one
//!   row-major buffer the kernel scans directly ([`Scan::F32`]), or as int8
//!   codes with each row's file offset ([`Scan::Int8`]: a quarter of the
//!   memory, the candidates rescored exactly from the file, the same hits);
//!   each collection keeps a live-row bitmap updated on every write, so an
//!   unfiltered search builds nothing per call.
//! - **All file I/O behind [`io::FileSystem`]**, so tests inject ENOSPC/EIO.
#![forbid(unsafe_code)]

mod attrs;
mod bitmap;
mod error;
mod file_rows;
mod filter;
mod frame_log;
mod glob;
mod idmap;
mod info;
pub mod io;
mod kernel_scan;
mod model;
mod options;
mod quantized;
mod record;
mod shards;
mod stage;
mod store;
mod validate;
mod wide;

pub use error::{Error, ErrorKind, Result};
pub use filter::{Filter, MAX_FILTER_DEPTH};
pub use info::{CollectionInfo, FileEnd, Footprint, OpenReport, Stats};
pub use nidus_format::{Attributes, IntOutOfRange, MAX_DIMENSION, Value};
pub use nidus_format::{shard_hash, shard_of};
pub use options::{
    DEFAULT_AUTO_COMPACT_MIN_DEAD, DEFAULT_AUTO_COMPACT_RATIO, Durability, Options, Scan,
};
pub use record::Record;
pub use shards::{ShardHit, merge_top_k, search_shards, search_shards_batch};
pub use store::{AttrSelection, Hit, RecordRef, Search, Store};
pub use validate::{MAX_ATTRS_BYTES, MAX_ID_BYTES, MAX_NAME_BYTES};
