//! Reads: lookups, listings and reports, and [`RecordRef`], a borrowed
//! view of one record.

use std::collections::BTreeMap;
use std::path::Path;

use nidus_format::{Attributes, Value};

use super::Store;
use crate::error::{Error, Result};
use crate::info::{CollectionInfo, Footprint, OpenReport, Stats};
use crate::model::Model;
use crate::record::Record;

/// A borrowed view of one stored record (see [`Store::records`]).
#[derive(Clone, Copy)]
pub struct RecordRef<'a> {
    pub(super) model: &'a Model,
    pub(super) row: usize,
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
        self.model.row_collection(self.row)
    }
    /// The record's id.
    pub fn id(&self) -> &'a str {
        self.model.row_id(self.row)
    }
    /// The stored unit vector, bit-exact as in the file.
    pub fn vector(&self) -> &'a [f32] {
        self.model.row_vector(self.row)
    }
    /// The value of attribute `name`, or `None` if the record does not
    /// have it: one lookup, without building the map [`RecordRef::attrs`]
    /// builds.
    ///
    /// ```
    /// use nidus_store::{Options, Record, Store};
    /// # let tmp = tempfile::tempdir().expect("temp dir");
    /// let mut store = Store::open(tmp.path(), Options::new(2))?;
    /// store.upsert("docs", &[Record::new("a", [1.0, 0.0]).attr("year", 2024)])?;
    /// let r = store.records("docs")?.next().expect("one record");
    /// assert_eq!(r.attr("year").and_then(|v| v.as_i64()), Some(2024));
    /// assert_eq!(r.attr("yaer"), None);
    /// # Ok::<(), nidus_store::Error>(())
    /// ```
    pub fn attr(&self, name: &str) -> Option<&'a Value> {
        let key = self.model.keys.get(name)?;
        crate::attrs::lookup(self.model.row_attrs(self.row), key)
    }
    /// The record's attributes.
    pub fn attrs(&self) -> Attributes {
        self.model.keys.expand(self.model.row_attrs(self.row))
    }
    /// An owned copy.
    pub fn to_record(&self) -> Record {
        Record::new(self.id(), self.vector()).with_attrs(self.attrs())
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

    /// The record `id` of `collection`. The vector is the stored unit
    /// vector.
    ///
    /// The two ways to miss differ on purpose: a missing *record* is
    /// `Ok(None)`, an ordinary answer (ids come and go), while a missing
    /// *collection* is [`ErrorKind::NotFound`], as in every call that names
    /// one, because it usually means a misspelled name or a store other
    /// than the one intended. Check [`Store::has_collection`] first where a
    /// missing collection is expected.
    ///
    /// ```
    /// use nidus_store::{ErrorKind, Options, Record, Store};
    /// # let tmp = tempfile::tempdir().expect("temp dir");
    /// let mut store = Store::open(tmp.path(), Options::new(2))?;
    /// store.upsert("docs", &[Record::new("a", [1.0, 0.0])])?;
    /// assert!(store.get("docs", "a")?.is_some());
    /// assert!(store.get("docs", "zz")?.is_none());
    /// let err = store.get("dosc", "a").unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::NotFound);
    /// # Ok::<(), nidus_store::Error>(())
    /// ```
    ///
    /// [`ErrorKind::NotFound`]: crate::ErrorKind::NotFound
    pub fn get(&self, collection: &str, id: &str) -> Result<Option<Record>> {
        self.collection_exists(collection)?;
        Ok(self.model.find(collection, id).map(|row| {
            RecordRef {
                model: &self.model,
                row,
            }
            .to_record()
        }))
    }

    /// The live records of `collection` in insertion order (an overwrite
    /// moves a record to the end), borrowed: vectors are bit-exact views.
    pub fn records(&self, collection: &str) -> Result<impl Iterator<Item = RecordRef<'_>> + '_> {
        let c = self.collection_exists(collection)?;
        let model = &self.model;
        Ok(c.live.iter().map(move |row| RecordRef { model, row }))
    }

    /// The attribute names the live records of `collection` use, sorted,
    /// each once. Filters do not check their names (a misspelled one is
    /// absent from every record, see [`Filter`](crate::Filter)); a tool
    /// that takes filters from people can check them against this list.
    /// A missing collection is [`ErrorKind::NotFound`].
    ///
    /// ```
    /// use nidus_store::{Options, Record, Store};
    /// # let tmp = tempfile::tempdir().expect("temp dir");
    /// let mut store = Store::open(tmp.path(), Options::new(2))?;
    /// store.upsert("docs", &[
    ///     Record::new("a", [1.0, 0.0]).attr("language", "go").attr("year", 2024),
    ///     Record::new("b", [0.0, 1.0]).attr("language", "rust"),
    /// ])?;
    /// assert_eq!(store.attribute_names("docs")?, ["language", "year"]);
    /// # Ok::<(), nidus_store::Error>(())
    /// ```
    ///
    /// [`ErrorKind::NotFound`]: crate::ErrorKind::NotFound
    pub fn attribute_names(&self, collection: &str) -> Result<Vec<String>> {
        let c = self.collection_exists(collection)?;
        // Interned ids are dense and few: mark them, then name them.
        let mut used: Vec<bool> = Vec::new();
        for row in c.live.iter() {
            for &(key, _) in self.model.row_attrs(row) {
                let key = key as usize;
                if key >= used.len() {
                    used.resize(key + 1, false);
                }
                used[key] = true;
            }
        }
        let mut names: Vec<String> = (0..used.len())
            .filter(|&k| used[k])
            .map(|k| self.model.keys.name(k as u32).to_owned())
            .collect();
        names.sort_unstable();
        Ok(names)
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
