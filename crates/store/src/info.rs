//! Read-only reports about a store: [`Stats`], [`Footprint`],
//! [`CollectionInfo`] and [`OpenReport`].

use std::collections::BTreeMap;

/// Counts and sizes of a store (cheap: no scan).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// The vector dimension.
    pub dimension: usize,
    /// Number of collections.
    pub collections: usize,
    /// Live records, all collections.
    pub records: usize,
    /// Rows overwritten, deleted or dropped but not yet compacted away.
    pub dead_rows: usize,
    /// Bytes of the data file this store has read or written.
    pub file_bytes: u64,
    /// Whether the store was opened read-only.
    pub read_only: bool,
    /// What the store keeps in memory to search with.
    pub scan: crate::Scan,
    /// Heap bytes the store keeps resident ([`Footprint::total_bytes`]):
    /// with [`Scan::Int8`](crate::Scan::Int8) the vectors count as their
    /// codes, bounds and file offsets, not as `f32`s.
    pub resident_bytes: usize,
}

/// Memory held by a store, by part (heap bytes, from capacities).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Footprint {
    /// Live rows.
    pub live_rows: usize,
    /// Dead rows still in memory (until compaction).
    pub dead_rows: usize,
    /// The vectors as the scan mode keeps them: the `f32` buffer
    /// ([`Scan::F32`](crate::Scan::F32)), or the int8 codes, scales, bounds
    /// and file offsets ([`Scan::Int8`](crate::Scan::Int8)).
    pub vector_bytes: usize,
    /// The id arena and its offsets.
    pub id_bytes: usize,
    /// Attributes and the attribute name table.
    pub attr_bytes: usize,
    /// Id indexes, live-row bitmaps and row owners.
    pub index_bytes: usize,
    /// The sum of the above: the bytes the store keeps resident.
    pub total_bytes: usize,
}

/// One collection, as listed by [`Store::collections`](crate::Store::collections).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CollectionInfo {
    /// The name.
    pub name: String,
    /// Live records.
    pub records: usize,
    /// The string metadata map.
    pub metadata: BTreeMap<String, String>,
}

/// How the data file ended when it was last read (open or refresh).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FileEnd {
    /// The file ends exactly after its last frame.
    Clean,
    /// The last frame is incomplete (a writer died mid-append): `dropped`
    /// bytes from `offset` on. A writable open truncated them; a read-only
    /// one ignores them. The same fact, with the same names, as
    /// `nidus_format::End::TornTail`.
    TornTail {
        /// Where the incomplete frame starts.
        offset: u64,
        /// How many bytes it has (none of them part of the store).
        dropped: u64,
    },
    /// A frame at `offset` is damaged; only opened with
    /// [`Options::open_valid_prefix`](crate::Options::open_valid_prefix).
    Corrupt {
        /// Where the damaged frame starts.
        offset: u64,
        /// What is wrong with it.
        reason: String,
        /// Where a writable open saved the bytes from `offset` on.
        saved_to: Option<std::path::PathBuf>,
    },
}

/// What the last open or refresh read (verify-style access).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OpenReport {
    /// Batches read and applied.
    pub batches: u64,
    /// Bytes of valid frames (header included): the file's valid prefix.
    pub valid_bytes: u64,
    /// How the file ended.
    pub end: FileEnd,
}
