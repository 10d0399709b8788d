//! nidus-format: the bytes of a nidus store, written once.
//!
//! This crate owns every byte nidus puts on disk and nothing else: the file
//! header, the checksummed frames that follow it, the encoding of a
//! [`Batch`] (the ops of one store write and its vectors, laid out as one
//! contiguous block) and a streaming [`Reader`] that yields committed
//! batches and reports where the valid prefix ends ([`End`]: clean, torn
//! tail or corruption). SPEC.md at the root of the repository is the
//! authoritative description; items here cite its sections.
//!
//! It depends on std alone and contains no `unsafe`, so an inspection or
//! export tool can depend on it without the rest of nidus.
//!
//! What these docs show is the reading API such a tool needs: [`Header`],
//! [`Reader`] and [`End`], [`Batch`] and [`Op`] with [`Value`] attributes,
//! [`FormatError`] with its [`FormatErrorKind`]. [`BatchRef`] and its
//! [`OpRef`], [`AttrsRef`] and [`ValueRef`] are the allocation-free view of
//! a batch that [`Reader::next_ref`] lends out, for loaders that keep only
//! part of each batch (for example its vectors, appended straight to one
//! arena). [`Reader::enforce_content_rules`] applies the content rules of a
//! store file (SPEC.md §5.6: every vector finite and of unit norm within
//! [`UNIT_NORM_TOLERANCE`]), which the grammar alone does not require.
//!
//! The writing side (`Appender`, `encode_frame`, ...), the checksum and the
//! content rules' primitives are public for nidus-store and the tests but
//! hidden from these docs: they are plumbing between nidus's own crates,
//! and a file is only ever written through `nidus_store::Store`.
//!
//! Design decisions:
//! - One batch is one frame, written with one call: the unit of atomicity
//!   and of checksumming is the same (SPEC.md §6.2).
//! - A torn tail is a normal end, not an error ([`End::TornTail`]); a
//!   damaged frame followed by more data is an error ([`FormatErrorKind::Corrupt`])
//!   that a caller cannot skip with `?` by accident.
//! - Every length is checked before it is trusted, and the checksum covers
//!   the length (SPEC.md §4.2).
//!
//! # Example
//!
//! Read every batch of a file image (here one written in memory, the way
//! the store writes its data file):
//!
//! ```
//! use nidus_format::{Attributes, Batch, End, Header, Op, Reader, Value};
//!
//! let mut attrs = Attributes::new();
//! attrs.insert("lang".into(), Value::from("en"));
//! let batch = Batch {
//!     ops: vec![Op::Upsert { collection: "docs".into(), id: "a".into(), attrs }],
//!     vectors: vec![0.5, -1.0, 2.0],
//! };
//! # let header = Header::new(3)?;
//! # let mut file = header.encode().to_vec();
//! # let mut appender = nidus_format::Appender::new(&mut file, header, nidus_format::HEADER_LEN as u64);
//! # appender.append(&batch)?;
//! // `file` holds the header and one frame with `batch`.
//! let mut reader = Reader::new(file.as_slice())?;
//! assert_eq!(reader.header().dimension, 3);
//! let mut read = Batch::default();
//! while reader.next_into(&mut read)? {
//!     assert_eq!(read, batch);
//! }
//! assert_eq!(reader.end(), Some(&End::Clean { offset: file.len() as u64 }));
//! # Ok::<(), nidus_format::FormatError>(())
//! ```
#![forbid(unsafe_code)]

mod batch;
mod checksum;
mod codec;
mod content;
mod error;
mod frame;
mod header;
mod reader;
mod shard;
mod value;
mod view;
mod writer;

pub use batch::{Batch, Op};
pub use content::UNIT_NORM_TOLERANCE;
pub use error::{FormatError, FormatErrorKind};
pub use frame::{FRAME_HEADER_LEN, MAX_PAYLOAD_LEN};
pub use header::{ElementType, HEADER_LEN, Header, MAGIC, MAX_DIMENSION, Version};
pub use reader::{End, Frame, Reader};
pub use shard::{SHARD_SEPARATOR, shard_hash, shard_of};
pub use value::{Attributes, IntOutOfRange, Value};
pub use view::{AttrIter, AttrsRef, BatchRef, ListIter, ListRef, OpIter, OpRef, ValueRef};

// Cross-crate plumbing: the writing side (nidus-store appends with it), the
// checksum and the content rules' primitives (the reader applies them
// itself). Public because the store, the CLI and the tests need them, and
// kept out of the docs: a tool that only reads needs none of them.
#[doc(hidden)]
pub use checksum::{Xxh64, checksum, xxh64};
#[doc(hidden)]
pub use content::{RowFault, VectorFault, check_vector, check_vector_block, sum_of_squares};
#[doc(hidden)]
pub use frame::{UpsertFrame, encode_frame, encode_upsert_frame};
#[doc(hidden)]
pub use writer::{Appender, Sink, sync_parent_dir};

/// The name of the one data file inside a store directory (SPEC.md §2).
/// The directory also holds the lock file while a writer is open; its name
/// belongs to the lock crate (SPEC.md §6.3).
pub const DATA_FILE: &str = "data.nidus";
