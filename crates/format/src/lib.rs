//! nidus-format: the bytes of a nidus store, written once.
//!
//! This crate owns every byte nidus puts on disk and nothing else: the file
//! header, the checksummed frames that follow it, the encoding of a
//! [`Batch`] (the ops of one store write and its vectors, laid out as one
//! contiguous block), a streaming [`Reader`] that yields committed batches
//! and reports where the valid prefix ends ([`End`]: clean, torn tail or
//! corruption), and an [`Appender`] that writes one frame per batch and
//! never leaves a partial frame behind a caught error. SPEC.md at the root
//! of the repository is the authoritative description; items here cite its
//! sections.
//!
//! It depends on std alone and contains no `unsafe`, so an inspection or
//! export tool can depend on it without the rest of nidus.
//!
//! Primary types: [`Header`], [`Batch`] and [`Op`] with [`Value`]
//! attributes, [`Reader`] and [`End`], [`Appender`] (over a [`Sink`]),
//! [`Error`] with its [`ErrorKind`]. [`BatchRef`] and its [`OpRef`],
//! [`AttrsRef`] and [`ValueRef`] are the allocation-free view of a batch
//! that [`Reader::next_ref`] lends out, for loaders that keep only part of
//! each batch (for example its vectors, appended straight to one arena).
//!
//! Design decisions:
//! - One batch is one frame, written with one call: the unit of atomicity
//!   and of checksumming is the same (SPEC.md §6.2).
//! - A torn tail is a normal end, not an error ([`End::TornTail`]); a
//!   damaged frame followed by more data is an error ([`ErrorKind::Corrupt`])
//!   that a caller cannot skip with `?` by accident.
//! - Every length is checked before it is trusted, and the checksum covers
//!   the length (SPEC.md §4.2).
//!
//! # Example
//!
//! Write a file image into memory, then read it back:
//!
//! ```
//! use nidus_format::{Appender, Attributes, Batch, End, Header, Op, Reader, Value, HEADER_LEN};
//!
//! let header = Header::new(3)?;
//! let mut file = header.encode().to_vec();
//!
//! let mut attrs = Attributes::new();
//! attrs.insert("lang".into(), Value::from("en"));
//! let batch = Batch {
//!     ops: vec![Op::Upsert { collection: "docs".into(), id: "a".into(), attrs }],
//!     vectors: vec![0.5, -1.0, 2.0],
//! };
//! let mut appender = Appender::new(&mut file, header, HEADER_LEN as u64);
//! appender.append(&batch)?;
//!
//! let mut reader = Reader::new(file.as_slice())?;
//! assert_eq!(reader.header().dimension, 3);
//! let mut read = Batch::default();
//! while reader.next_into(&mut read)? {
//!     assert_eq!(read, batch);
//! }
//! assert_eq!(reader.end(), Some(&End::Clean { offset: file.len() as u64 }));
//! # Ok::<(), nidus_format::Error>(())
//! ```
#![forbid(unsafe_code)]

mod batch;
mod checksum;
mod codec;
mod error;
mod frame;
mod header;
mod reader;
mod shard;
mod value;
mod view;
mod writer;

pub use batch::{Batch, Op};
pub use checksum::{Xxh64, checksum, xxh64};
pub use error::{Error, ErrorKind};
pub use frame::{
    FRAME_HEADER_LEN, MAX_PAYLOAD_LEN, UpsertFrame, encode_frame, encode_upsert_frame,
};
pub use header::{ElementType, HEADER_LEN, Header, MAGIC, MAX_DIMENSION, Version};
pub use reader::{End, Frame, Reader};
pub use shard::{SHARD_SEPARATOR, shard_hash, shard_of};
pub use value::{Attributes, IntOutOfRange, Value};
pub use view::{AttrIter, AttrsRef, BatchRef, ListIter, ListRef, OpIter, OpRef, ValueRef};
pub use writer::{Appender, Sink, sync_parent_dir};

/// The name of the one data file inside a store directory (SPEC.md §2).
/// The directory also holds the lock file while a writer is open; its name
/// belongs to the lock crate (SPEC.md §6.3).
pub const DATA_FILE: &str = "data.nidus";
