//! The logical content of one batch (SPEC.md §5): what one store write call
//! commits atomically. Encoding lives beside it in this crate.

use crate::value::Attributes;

/// One atomic write: the operations of one store write call, applied in
/// order. A reader sees all of a batch or none of it (SPEC.md §6.2).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Batch {
    /// The operations, in the order they apply.
    pub ops: Vec<Op>,
    /// The vectors of the batch's upserts, row-major, `dimension` values per
    /// row, laid contiguously so that loading is a bulk copy: the i-th
    /// [`Op::Upsert`] in `ops` owns row i.
    pub vectors: Vec<f32>,
}

/// One operation inside a [`Batch`].
#[derive(Debug, Clone, PartialEq)]
pub enum Op {
    /// Create an (empty) collection; a no-op if it exists.
    CreateCollection {
        /// The collection's name.
        name: String,
    },
    /// Drop a collection with all its records and metadata.
    DropCollection {
        /// The collection's name.
        name: String,
    },
    /// Set (`Some`) or remove (`None`) one string metadata entry of a collection.
    SetMetadata {
        /// The collection's name.
        collection: String,
        /// The metadata key.
        key: String,
        /// The new value, or `None` to remove the key.
        value: Option<String>,
    },
    /// Insert or replace the record `(collection, id)`; its vector is the
    /// batch's next row (see [`Batch::vectors`]).
    Upsert {
        /// The collection's name (created if missing).
        collection: String,
        /// The caller's id, unique within the collection.
        id: String,
        /// The record's attributes.
        attrs: Attributes,
    },
    /// Delete the record `(collection, id)`; a no-op if it is absent.
    Delete {
        /// The collection's name.
        collection: String,
        /// The record's id.
        id: String,
    },
}

impl Batch {
    /// The number of upserts, i.e. the number of vector rows the batch owns.
    pub fn upsert_count(&self) -> usize {
        self.ops
            .iter()
            .filter(|op| matches!(op, Op::Upsert { .. }))
            .count()
    }
}
