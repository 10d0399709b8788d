//! Writes: upserts, deletes, collections and metadata, each one frame
//! written (and synced) before memory changes (SPEC.md §6.4).

use std::borrow::Borrow;

use nidus_format::{Batch, Op, OpRef};

use super::Store;
use super::big_upsert::OVERLAP_MIN_FLOATS;
use super::budget::{check_budget, check_records};
use crate::attrs::{Keys, RowAttrs};
use crate::error::{Error, ErrorKind, Result};
use crate::filter::Filter;
use crate::frame_log;
use crate::options::Durability;
use crate::record::Record;
use crate::stage;
use crate::validate;

impl Store {
    /// Refuses `operation` on a read-only store.
    pub(super) fn writable(&self, operation: &str) -> Result<()> {
        if self.lock.is_none() {
            return Err(Error::read_only(operation).with_path(&self.dir));
        }
        Ok(())
    }

    /// Checks, right before a write, that the write lock is still ours
    /// (SPEC.md §6.3): if it was removed or taken over, writing could
    /// interleave with another writer, so the store refuses.
    pub(super) fn verify_lock(&self) -> Result<()> {
        match &self.lock {
            Some(lock) => lock.verify().map_err(|e| {
                Error::new(
                    ErrorKind::Locked,
                    format!("{e}; this store no longer holds its write lock: reopen it"),
                )
                .with_path(&self.dir)
                .with_source(e)
            }),
            None => Err(Error::read_only("writing").with_path(&self.dir)),
        }
    }

    /// Writes `ops` (anything but upserts, which take their own paths) as
    /// one frame (synced unless deferred), then applies them to memory.
    /// Nothing changes, on disk or in memory, unless the write succeeded.
    fn commit(&mut self, ops: Vec<Op>) -> Result<()> {
        self.retry_cut()?;
        let batch = Batch {
            ops,
            vectors: Vec::new(),
        };
        // The ops, seen as a reader of the file sees them: memory changes
        // through the same path as when the file is loaded.
        let views = || batch.ops.iter().map(op_view);
        check_budget(&self.model, self.opts.memory_budget, 0, views())?;
        // No rows are added, so there is nothing to reserve.
        self.verify_lock()?;
        self.frame.clear();
        nidus_format::encode_frame(&batch, &self.header, &mut self.frame)
            .map_err(|e| frame_log::format_error(e, &self.path))?;
        let sync = self.opts.durability == Durability::Sync;
        frame_log::append(
            &mut *self.file,
            &self.path,
            self.end,
            &[&self.frame],
            sync,
            &mut self.cut_pending,
        )?;
        self.wrote_frame(self.frame.len(), sync);
        self.model.apply_ops(views());
        self.maybe_auto_compact();
        Ok(())
    }

    /// A failed append could not be cut back: cut it before anything else
    /// is appended (nothing is ever appended after debris).
    fn retry_cut(&mut self) -> Result<()> {
        if self.cut_pending {
            self.file
                .set_len(self.end)
                .map_err(|e| Error::io("cutting back a failed append", &self.path, e))?;
            self.cut_pending = false;
        }
        Ok(())
    }

    /// Book-keeping after a frame was appended (and synced if `sync`).
    fn wrote_frame(&mut self, written: usize, sync: bool) {
        self.end += written as u64;
        self.unsynced |= !sync;
        self.trim_buffers();
    }

    /// Inserts or replaces `records` in `collection` (created if missing),
    /// as one atomic batch: all of them or, on error, none. Vectors are
    /// stored normalized. Within one call a repeated id: the last wins.
    ///
    /// After `Ok`, `collection` exists, even when `records` is empty: an
    /// empty upsert is [`Store::create_collection`] (which writes nothing
    /// if the collection is already there), so an import of an empty file
    /// still leaves a collection to count and search.
    ///
    /// ```
    /// use nidus_store::{Options, Record, Store};
    /// # let tmp = tempfile::tempdir().expect("temp dir");
    /// let mut store = Store::open(tmp.path(), Options::new(2))?;
    /// store.upsert("fresh", &[])?;
    /// assert_eq!(store.count("fresh")?, 0);
    /// # Ok::<(), nidus_store::Error>(())
    /// ```
    pub fn upsert(&mut self, collection: &str, records: &[Record]) -> Result<()> {
        self.writable("upsert")?;
        validate::name("a collection name", collection)?;
        if records.is_empty() {
            self.create_collection(collection)?;
            return Ok(());
        }
        // Small batches: the unit vectors go straight into the vector
        // buffer, past the last row (invisible to searches, which see rows
        // below `Model::rows`), and the frame is encoded from there. Big
        // batches are checked and normalized on two cores straight into
        // the frame's vector block; then the copy from there into the
        // vector buffer (page faults into fresh memory, the slowest part)
        // starts on a second thread while this one encodes the ops,
        // checksums, writes and syncs the frame, and joins the copy when
        // that is done.
        let floats = records.len().saturating_mul(self.model.dim);
        let result = if floats < OVERLAP_MIN_FLOATS {
            self.upsert_small(collection, records)
        } else {
            self.upsert_big(collection, records)
        };
        if result.is_err() {
            self.model.unstage_vectors();
        }
        self.trim_buffers();
        result
    }

    /// Gives back frame buffers over 64 MiB (kept otherwise: a fresh 15 MB
    /// allocation per call costs thousands of page faults), whether the
    /// call that grew them succeeded or not.
    fn trim_buffers(&mut self) {
        if self.frame.capacity() > 64 << 20 {
            self.frame = Vec::new();
        }
        if self.ops.capacity() > 64 << 20 {
            self.ops = Vec::new();
        }
    }

    /// [`Store::upsert`] of a small batch, on the calling thread.
    fn upsert_small(&mut self, collection: &str, records: &[Record]) -> Result<()> {
        let id_bytes = stage::check_records(collection, records)?;
        self.model
            .vectors
            .try_reserve(records.len() * self.model.dim)?;
        for r in records {
            validate::push_unit(
                self.model.dim,
                &r.vector,
                &|| format!("the vector of record {:?}", r.id),
                &mut self.model.vectors,
            )?;
        }
        self.prepare_upserts(collection, records, id_bytes)?;
        let sync = self.opts.durability == Durability::Sync;
        let staged = self.model.rows() * self.model.dim;
        self.frame.clear();
        nidus_format::encode_upsert_frame(
            &self.header,
            collection,
            &self.model.vectors[staged..],
            records.iter().map(|r| (r.id.as_str(), &r.attrs)),
            &mut self.frame,
        )
        .map_err(|e| frame_log::format_error(e, &self.path))?;
        // Interning attribute names ahead of the write is harmless if it
        // fails: names are never removed.
        let attrs = compact_attrs(&mut self.model.keys, records)?;
        frame_log::append(
            &mut *self.file,
            &self.path,
            self.end,
            &[&self.frame],
            sync,
            &mut self.cut_pending,
        )?;
        self.finish_upserts(collection, records, attrs, self.frame.len(), sync);
        Ok(())
    }

    /// What both upsert paths do once the rows are staged: cut back a
    /// failed append, check the memory budget, reserve the row arrays, and
    /// make sure the lock is still ours.
    pub(super) fn prepare_upserts(
        &mut self,
        collection: &str,
        records: &[Record],
        id_bytes: usize,
    ) -> Result<()> {
        self.retry_cut()?;
        check_records(&self.model, self.opts.memory_budget, records)?;
        self.model
            .reserve_upserts(collection, records.len(), id_bytes)?;
        self.verify_lock()
    }

    /// What both upsert paths do once the frame (`written` bytes) is in the
    /// file: the rows become part of the store.
    pub(super) fn finish_upserts(
        &mut self,
        collection: &str,
        records: &[Record],
        attrs: Vec<RowAttrs>,
        written: usize,
        sync: bool,
    ) {
        self.wrote_frame(written, sync);
        self.model
            .apply_upserts(collection, records.iter().map(|r| r.id.as_str()).zip(attrs));
        self.maybe_auto_compact();
    }

    /// Deletes the records `ids` of `collection`; returns how many existed.
    /// Missing ids are skipped; a missing collection is
    /// [`ErrorKind::NotFound`].
    pub fn delete<S: AsRef<str>>(&mut self, collection: &str, ids: &[S]) -> Result<usize> {
        self.writable("delete")?;
        self.collection_exists(collection)?;
        let mut seen = std::collections::HashSet::new();
        let ops: Vec<Op> = ids
            .iter()
            .map(AsRef::as_ref)
            .filter(|id| self.model.find(collection, id).is_some() && seen.insert(*id))
            .map(|id| Op::Delete {
                collection: collection.to_owned(),
                id: id.to_owned(),
            })
            .collect();
        self.commit_deletes(ops)
    }

    /// Deletes every record of `collection` matching `filter`, as one
    /// batch; returns how many. Takes a [`Filter`] or a `&Filter`; the
    /// records are those [`Store::records_where`] lists.
    pub fn delete_where(&mut self, collection: &str, filter: impl Borrow<Filter>) -> Result<usize> {
        self.writable("delete_where")?;
        let ops: Vec<Op> = self
            .records_where(collection, filter)?
            .map(|r| Op::Delete {
                collection: collection.to_owned(),
                id: r.id().to_owned(),
            })
            .collect();
        self.commit_deletes(ops)
    }

    /// Commits `ops` (deletes of live records) as one batch, writing nothing
    /// when there are none; returns how many records were deleted.
    fn commit_deletes(&mut self, ops: Vec<Op>) -> Result<usize> {
        let n = ops.len();
        if n > 0 {
            self.commit(ops)?;
        }
        Ok(n)
    }

    /// Creates an empty collection; returns false (writing nothing) if it
    /// already exists.
    pub fn create_collection(&mut self, name: &str) -> Result<bool> {
        self.writable("create_collection")?;
        validate::name("a collection name", name)?;
        if self.has_collection(name) {
            return Ok(false);
        }
        self.commit(vec![Op::CreateCollection {
            name: name.to_owned(),
        }])?;
        Ok(true)
    }

    /// Drops a collection with its records and metadata
    /// ([`ErrorKind::NotFound`] if missing).
    pub fn drop_collection(&mut self, name: &str) -> Result<()> {
        self.writable("drop_collection")?;
        self.collection_exists(name)?;
        self.commit(vec![Op::DropCollection {
            name: name.to_owned(),
        }])
    }

    /// Sets metadata `key` of `collection` to `value`.
    pub fn set_metadata(&mut self, collection: &str, key: &str, value: &str) -> Result<()> {
        self.writable("set_metadata")?;
        self.collection_exists(collection)?;
        validate::name("a metadata key", key)?;
        if value.len() > validate::MAX_ATTRS_BYTES {
            return Err(Error::invalid(format!(
                "metadata value for {key:?} is {} bytes, over the limit of {}",
                value.len(),
                validate::MAX_ATTRS_BYTES
            )));
        }
        self.commit(vec![Op::SetMetadata {
            collection: collection.to_owned(),
            key: key.to_owned(),
            value: Some(value.to_owned()),
        }])
    }

    /// Removes metadata `key` of `collection`; returns whether it existed.
    pub fn remove_metadata(&mut self, collection: &str, key: &str) -> Result<bool> {
        self.writable("remove_metadata")?;
        if !self
            .collection_exists(collection)?
            .metadata
            .contains_key(key)
        {
            return Ok(false);
        }
        self.commit(vec![Op::SetMetadata {
            collection: collection.to_owned(),
            key: key.to_owned(),
            value: None,
        }])?;
        Ok(true)
    }

    /// Makes every write so far durable (a no-op unless
    /// [`Durability::Deferred`]).
    ///
    /// After a failed sync the kernel may have dropped the unsynced pages
    /// while a retried sync still succeeds (SPEC.md §6.1 item 5), so the
    /// next flush rewrites the store from memory (a compaction, §6.5)
    /// instead of trusting the old file; it returns `Ok` only once that
    /// rewrite is durable.
    pub fn flush(&mut self) -> Result<()> {
        if self.sync_failed {
            self.compact()?;
            return Ok(());
        }
        if self.unsynced {
            if let Err(e) = self.file.sync_data() {
                self.sync_failed = true;
                return Err(Error::io("syncing the data file", &self.path, e));
            }
            self.unsynced = false;
        }
        Ok(())
    }
}

/// The records' attributes in the store's compact form (interning their
/// names).
pub(super) fn compact_attrs(keys: &mut Keys, records: &[Record]) -> Result<Vec<RowAttrs>> {
    let mut attrs = Vec::new();
    attrs.try_reserve_exact(records.len())?;
    attrs.extend(records.iter().map(|r| keys.compact(&r.attrs)));
    Ok(attrs)
}

/// The view of `op` a reader of the file lends, for [`Store::commit`]'s
/// ops. Upserts never come this way: their attributes exist only encoded
/// in a view, and [`Store::upsert`] writes them through its own paths.
fn op_view(op: &Op) -> OpRef<'_> {
    match op {
        Op::CreateCollection { name } => OpRef::CreateCollection { name },
        Op::DropCollection { name } => OpRef::DropCollection { name },
        Op::SetMetadata {
            collection,
            key,
            value,
        } => OpRef::SetMetadata {
            collection,
            key,
            value: value.as_deref(),
        },
        Op::Delete { collection, id } => OpRef::Delete { collection, id },
        Op::Upsert { .. } => unreachable!("upserts are written by Store::upsert, not commit"),
    }
}
