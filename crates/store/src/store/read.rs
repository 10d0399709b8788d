//! Reads: lookups, listings and reports, and [`RecordRef`], a borrowed
//! view of one record.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;

use nidus_format::Attributes;

use super::Store;
use crate::error::{Error, Result};
use crate::info::{CollectionInfo, Footprint, OpenReport, Stats};
use crate::options::Scan;
use crate::record::Record;

/// A borrowed view of one stored record (see [`Store::records`]).
#[derive(Clone, Copy)]
pub struct RecordRef<'a> {
    store: &'a Store,
    row: usize,
}

impl std::fmt::Debug for RecordRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordRef")
            .field("collection", &self.collection())
            .field("id", &self.id())
            .finish_non_exhaustive()
    }
}

impl<'a> RecordRef<'a> {
    /// The record's collection.
    pub fn collection(&self) -> &'a str {
        self.store.model.row_collection(self.row)
    }
    /// The record's id.
    pub fn id(&self) -> &'a str {
        self.store.model.row_id(self.row)
    }
    /// The stored unit vector, bit-exact as in the file: borrowed from
    /// memory with [`Scan::F32`]; with [`Scan::Int8`] read from the data
    /// file (one positioned read) and checked against the codes kept for
    /// it, so it fails with [`ErrorKind::Io`] if the read fails and
    /// [`ErrorKind::Corrupt`] (with the byte offset) if the file no longer
    /// holds the vector that was loaded.
    ///
    /// [`ErrorKind::Io`]: crate::ErrorKind::Io
    /// [`ErrorKind::Corrupt`]: crate::ErrorKind::Corrupt
    pub fn vector(&self) -> Result<Cow<'a, [f32]>> {
        self.store.row_vector(self.row)
    }
    /// The record's attributes.
    pub fn attrs(&self) -> Attributes {
        let m = &self.store.model;
        m.keys.expand(m.row_attrs(self.row))
    }
    /// An owned copy (errors as [`RecordRef::vector`]).
    pub fn to_record(&self) -> Result<Record> {
        Ok(Record {
            id: self.id().to_owned(),
            vector: self.vector()?.into_owned(),
            attrs: self.attrs(),
        })
    }
}

impl Store {
    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The vector dimension.
    pub fn dimension(&self) -> usize {
        self.model.dim
    }

    /// Whether the store was opened read-only.
    pub fn is_read_only(&self) -> bool {
        self.lock.is_none()
    }

    /// Live records in all collections.
    pub fn len(&self) -> usize {
        self.model.live_rows()
    }

    /// Whether there are no live records.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(super) fn collection_exists(&self, name: &str) -> Result<&crate::model::Collection> {
        self.model.collection(name).ok_or_else(|| {
            Error::not_found(format!("collection {name:?} does not exist")).with_path(&self.dir)
        })
    }

    /// Live records in `collection` ([`ErrorKind::NotFound`] if missing).
    ///
    /// [`ErrorKind::NotFound`]: crate::ErrorKind::NotFound
    pub fn count(&self, collection: &str) -> Result<usize> {
        Ok(self.collection_exists(collection)?.live.count())
    }

    /// Whether `collection` exists.
    pub fn has_collection(&self, collection: &str) -> bool {
        self.model.collection(collection).is_some()
    }

    /// The record `id` of `collection`: `Ok(None)` if there is no such
    /// record, [`ErrorKind::NotFound`] if there is no such collection. The
    /// vector is the stored unit vector (read from the data file with
    /// [`Scan::Int8`], errors as [`RecordRef::vector`]).
    ///
    /// [`ErrorKind::NotFound`]: crate::ErrorKind::NotFound
    pub fn get(&self, collection: &str, id: &str) -> Result<Option<Record>> {
        self.collection_exists(collection)?;
        self.model
            .find(collection, id)
            .map(|row| RecordRef { store: self, row }.to_record())
            .transpose()
    }

    /// The live records of `collection` in insertion order (an overwrite
    /// moves a record to the end), borrowed: ids and attributes from
    /// memory, vectors bit-exact (see [`RecordRef::vector`]).
    pub fn records(&self, collection: &str) -> Result<impl Iterator<Item = RecordRef<'_>> + '_> {
        let c = self.collection_exists(collection)?;
        Ok(c.live.iter().map(move |row| RecordRef { store: self, row }))
    }

    /// What this store keeps in memory to search with ([`Options::scan`]).
    ///
    /// [`Options::scan`]: crate::Options::scan
    pub fn scan(&self) -> Scan {
        match self.model.quantized() {
            None => Scan::F32,
            Some(_) => Scan::Int8,
        }
    }

    /// All collections in name order, with record counts and metadata.
    pub fn collections(&self) -> Vec<CollectionInfo> {
        self.model
            .collections()
            .map(|c| CollectionInfo {
                name: c.name.clone(),
                records: c.live.count(),
                metadata: c.metadata.clone(),
            })
            .collect()
    }

    /// The metadata map of `collection`.
    pub fn metadata(&self, collection: &str) -> Result<BTreeMap<String, String>> {
        Ok(self.collection_exists(collection)?.metadata.clone())
    }

    /// Counts and sizes (no scan).
    pub fn stats(&self) -> Stats {
        Stats {
            dimension: self.model.dim,
            collections: self.model.collections().count(),
            records: self.model.live_rows(),
            dead_rows: self.model.dead_rows(),
            file_bytes: self.end,
            read_only: self.is_read_only(),
            scan: self.scan(),
            resident_bytes: self.model.heap_bytes().total(),
        }
    }

    /// Memory held, by part (see [`Footprint`]).
    pub fn footprint(&self) -> Footprint {
        let heap = self.model.heap_bytes();
        Footprint {
            live_rows: self.model.live_rows(),
            dead_rows: self.model.dead_rows(),
            vector_bytes: heap.vectors,
            id_bytes: heap.ids,
            attr_bytes: heap.attrs,
            index_bytes: heap.index,
            total_bytes: heap.total(),
        }
    }

    /// What the last open, refresh or compaction read or left: batches,
    /// valid bytes and how the file ended (verify-style access).
    pub fn open_report(&self) -> &OpenReport {
        &self.report
    }
}
