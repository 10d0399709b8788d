//! The in-memory state of a store: every row ever loaded (live or dead until
//! compaction), the collections that own them, and the incremental live-row
//! bitmaps searches scan with.
//!
//! Rows are a struct of arrays: the vectors as the [`Scan`] mode keeps them
//! (one contiguous `f32` buffer, or int8 codes and file offsets; what the
//! kernel scans), the owning collection, the id (in one arena string), and
//! compact attributes. Rows are added only after all the memory they need is
//! reserved ([`Model::reserve_for`] for a batch read from the file,
//! [`Model::reserve_upserts`] for the store's upserts), so that applying
//! them (for a write, after the disk write succeeded) cannot fail halfway.
//! Every other change goes through [`Model::apply_ops`], whether the ops
//! were read from the file or just written.

mod scope;

use std::collections::BTreeMap;

use nidus_format::{BatchRef, OpRef};

use crate::attrs::{Keys, RowAttrs};
use crate::bitmap::SpanBitmap;
use crate::error::{Error, Result};
use crate::idmap::{IdHasher, IdMap};
use crate::options::Scan;
use crate::quantized::Quantized;

/// Rows are numbered with u32 in the id maps.
pub(crate) const MAX_ROWS: usize = u32::MAX as usize;

#[derive(Debug, Default)]
pub(crate) struct Collection {
    pub(crate) name: String,
    pub(crate) metadata: BTreeMap<String, String>,
    pub(crate) ids: IdMap,
    pub(crate) live: SpanBitmap,
}

#[derive(Debug)]
pub(crate) struct Model {
    pub(crate) dim: usize,
    /// [`Scan::F32`]: every row's vector, then rows staged by an upsert not
    /// yet applied. [`Scan::Int8`]: only the staged rows (quantized, then
    /// dropped, when the upsert is applied).
    pub(crate) vectors: Vec<f32>,
    /// [`Scan::Int8`]: the codes and file offsets of every row.
    quantized: Option<Quantized>,
    owner: Vec<u32>,
    id_arena: String,
    id_ends: Vec<u64>,
    attrs: Vec<RowAttrs>,
    pub(crate) live: SpanBitmap,
    collections: Vec<Option<Collection>>,
    by_name: BTreeMap<String, u32>,
    pub(crate) keys: Keys,
    hasher: IdHasher,
    /// Heap bytes owned by the rows' attribute values (kept incrementally so
    /// budget checks cost nothing per write).
    attr_heap: usize,
}

/// Heap bytes of a [`Model`], by part (see [`Model::heap_bytes`] and
/// [`Model::heap_bytes_used`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HeapBytes {
    /// The vectors as the scan mode keeps them (the `f32` buffer, or the
    /// int8 codes, bounds and file offsets and the staging buffer).
    pub(crate) vectors: usize,
    /// The id arena and its offsets.
    pub(crate) ids: usize,
    /// Attributes (and, from capacities, the attribute name table).
    pub(crate) attrs: usize,
    /// Id indexes, live-row bitmaps and row owners.
    pub(crate) index: usize,
}

impl HeapBytes {
    /// The sum of the parts.
    pub(crate) fn total(&self) -> usize {
        self.vectors + self.ids + self.attrs + self.index
    }
}

impl Model {
    pub(crate) fn new(dim: usize, scan: Scan) -> Result<Model> {
        let quantized = match scan {
            Scan::F32 => None,
            Scan::Int8 => Some(Quantized::new(dim)?),
        };
        Ok(Model {
            dim,
            vectors: Vec::new(),
            quantized,
            owner: Vec::new(),
            id_arena: String::new(),
            id_ends: Vec::new(),
            attrs: Vec::new(),
            live: SpanBitmap::default(),
            collections: Vec::new(),
            by_name: BTreeMap::new(),
            keys: Keys::default(),
            hasher: IdHasher::new(),
            attr_heap: 0,
        })
    }

    /// The int8 rows and offsets ([`Scan::Int8`]), or `None` ([`Scan::F32`]).
    pub(crate) fn quantized(&self) -> Option<&Quantized> {
        self.quantized.as_ref()
    }

    /// Where rows staged by an upsert start in [`Model::vectors`].
    pub(crate) fn staged_from(&self) -> usize {
        match self.quantized {
            None => self.rows() * self.dim,
            Some(_) => 0,
        }
    }

    /// Reserves the vectors of `rows` rows about to be loaded, exactly.
    pub(crate) fn reserve_loaded(&mut self, rows: usize) -> Result<()> {
        match &mut self.quantized {
            None => self.vectors.try_reserve_exact(rows * self.dim)?,
            Some(q) => q.reserve(rows)?,
        }
        Ok(())
    }

    /// Bytes the scan mode keeps for `rows` more rows' vectors.
    pub(crate) fn vector_cost(&self, rows: usize) -> usize {
        match self.quantized {
            None => rows * self.dim * 4,
            Some(_) => rows * (self.dim + crate::quantized::ROW_OVERHEAD_BYTES),
        }
    }

    /// Rows in the buffer, live and dead.
    pub(crate) fn rows(&self) -> usize {
        self.owner.len()
    }

    pub(crate) fn live_rows(&self) -> usize {
        self.live.count()
    }

    pub(crate) fn dead_rows(&self) -> usize {
        self.rows() - self.live.count()
    }

    pub(crate) fn row_id(&self, row: usize) -> &str {
        let start = if row == 0 { 0 } else { self.id_ends[row - 1] };
        &self.id_arena[start as usize..self.id_ends[row] as usize]
    }

    /// The row's vector when it is in memory ([`Scan::F32`]); `None` when
    /// it lives only in the file ([`Scan::Int8`]).
    pub(crate) fn row_vector(&self, row: usize) -> Option<&[f32]> {
        match self.quantized {
            None => Some(&self.vectors[row * self.dim..(row + 1) * self.dim]),
            Some(_) => None,
        }
    }

    pub(crate) fn row_attrs(&self, row: usize) -> &[(u32, nidus_format::Value)] {
        &self.attrs[row]
    }

    pub(crate) fn row_collection(&self, row: usize) -> &str {
        self.collections[self.owner[row] as usize]
            .as_ref()
            .map_or("", |c| c.name.as_str())
    }

    /// The slot of collection `name`.
    pub(crate) fn slot(&self, name: &str) -> Option<u32> {
        self.by_name.get(name).copied()
    }

    pub(crate) fn collection(&self, name: &str) -> Option<&Collection> {
        self.slot(name)
            .and_then(|s| self.collections[s as usize].as_ref())
    }

    /// Collections in name order.
    pub(crate) fn collections(&self) -> impl Iterator<Item = &Collection> {
        self.by_name
            .values()
            .filter_map(|&s| self.collections[s as usize].as_ref())
    }

    /// The row of `(collection, id)` if it is live.
    pub(crate) fn find(&self, collection: &str, id: &str) -> Option<usize> {
        let c = self.collection(collection)?;
        c.ids
            .get(&self.hasher, id, |r| self.row_id(r as usize))
            .map(|r| r as usize)
    }

    /// Reserves the per-row arrays for every row `batch` adds, and refuses
    /// batches past the row limit, so that [`Model::apply`] cannot fail
    /// halfway. Reserves from the row count alone:
    /// parsing the ops an extra time would cost more than it saves. Ids
    /// and index slots grow amortized.
    pub(crate) fn reserve_for(&mut self, batch: &BatchRef<'_>) -> Result<()> {
        self.reserve_rows(batch.row_count(), 0)?;
        Ok(())
    }

    /// Reserves for `count` upserts into `collection` with `id_bytes` of
    /// ids in all (the store's own upsert path, one collection per call).
    pub(crate) fn reserve_upserts(
        &mut self,
        collection: &str,
        count: usize,
        id_bytes: usize,
    ) -> Result<()> {
        let end = self.reserve_rows(count, id_bytes)?;
        if let Some(slot) = self.slot(collection)
            && let Some(c) = self.collections[slot as usize].as_mut()
        {
            c.ids.try_reserve(count)?;
            c.live.try_reserve_to(end)?;
        }
        Ok(())
    }

    /// Appends upserts into `collection` whose vectors are already staged
    /// (one row each, in order, after [`Model::reserve_upserts`]): the
    /// store's upsert path, which builds the compact attributes while the
    /// frame is being written. Same result as [`Model::apply`] of the
    /// equivalent batch. `first_offset` is where the first staged row's
    /// vector lies in the data file (the frame was written first).
    pub(crate) fn apply_upserts<'b>(
        &mut self,
        collection: &str,
        rows: impl Iterator<Item = (&'b str, RowAttrs)>,
        first_offset: u64,
    ) {
        if let Some(q) = &mut self.quantized {
            // The frame is in the file (written to the OS, synced or not):
            // rescoring reads these rows back from there like any other.
            q.push_rows(&self.vectors, first_offset);
            self.vectors.clear();
            if self.vectors.capacity() > STAGING_KEEP_FLOATS {
                self.vectors = Vec::new();
            }
        }
        for (id, attrs) in rows {
            self.upsert(collection, id, attrs);
        }
        debug_assert_eq!(self.vectors.len(), self.staged_from());
        debug_assert!(
            self.quantized
                .as_ref()
                .is_none_or(|q| q.len() == self.rows())
        );
    }

    /// Reserves the per-row arrays for `count` more rows; returns the row
    /// count after them.
    fn reserve_rows(&mut self, count: usize, id_bytes: usize) -> Result<usize> {
        let end = self.rows() + count;
        if end > MAX_ROWS {
            return Err(Error::invalid(format!(
                "a store holds at most {MAX_ROWS} rows (live and dead) between compactions; \
                 this batch would make {end}"
            )));
        }
        match &mut self.quantized {
            None => self.vectors.try_reserve(count * self.dim)?,
            Some(q) => q.reserve(count)?,
        }
        self.owner.try_reserve(count)?;
        self.id_ends.try_reserve(count)?;
        self.attrs.try_reserve(count)?;
        self.id_arena.try_reserve(id_bytes)?;
        self.live.try_reserve_to(end)?;
        Ok(end)
    }

    fn create(&mut self, name: &str) -> u32 {
        if let Some(s) = self.slot(name) {
            return s;
        }
        let slot = u32::try_from(self.collections.len()).expect("fewer than 2^32 collections");
        self.collections.push(Some(Collection {
            name: name.to_owned(),
            ..Collection::default()
        }));
        self.by_name.insert(name.to_owned(), slot);
        slot
    }

    fn kill(&mut self, slot: u32, row: usize) {
        self.live.clear(row);
        if let Some(c) = self.collections[slot as usize].as_mut() {
            c.live.clear(row);
        }
    }

    /// Drops vectors staged past the last row (an upsert normalizes into
    /// the buffer before its frame is written; undone if anything fails).
    pub(crate) fn unstage_vectors(&mut self) {
        self.vectors.truncate(self.staged_from());
    }

    /// Applies a batch read from the file (after [`Model::reserve_for`])
    /// whose frame starts at byte `frame_at`: the vectors go straight from
    /// the frame's buffer into the vector buffer (or are quantized from
    /// there, [`Scan::Int8`]), then [`Model::apply_ops`] applies the ops.
    ///
    /// A big vector block is copied on a second thread (if `threads`, 0 =
    /// the cores available, allows) while this one applies the ops, then
    /// this one joins the copy: the page faults of the fresh vector memory
    /// are most of the time an open takes, and they go twice as fast on two
    /// cores.
    pub(crate) fn apply(
        &mut self,
        batch: &BatchRef<'_>,
        threads: usize,
        frame_at: u64,
    ) -> Result<()> {
        if self.quantized.is_some() {
            return self.apply_quantized(batch, threads, frame_at);
        }
        // The ops never touch the vector buffer: take it out so that the
        // copy and the ops can borrow their parts separately.
        let mut vectors = std::mem::take(&mut self.vectors);
        let copied = nidus_kernel::extend_from_le_bytes_while(
            &mut vectors,
            batch.vector_bytes(),
            threads,
            || self.apply_ops(batch.ops()),
        );
        self.vectors = vectors;
        copied?;
        debug_assert_eq!(self.vectors.len(), self.rows() * self.dim);
        Ok(())
    }

    /// [`Model::apply`] in [`Scan::Int8`]: the block is quantized (on a
    /// second thread while this one applies the ops, for a big block).
    fn apply_quantized(
        &mut self,
        batch: &BatchRef<'_>,
        threads: usize,
        frame_at: u64,
    ) -> Result<()> {
        let mut q = self.quantized.take().expect("Scan::Int8");
        let before = q.len();
        let bytes = batch.vector_bytes();
        let first = frame_at + crate::frame_log::VECTORS_IN_FRAME;
        let parallel = crate::options::resolve_threads(threads) >= 2
            && bytes.len() >= 4 * nidus_kernel::PARALLEL_MIN_FLOATS;
        let bad = if parallel {
            std::thread::scope(|scope| {
                let quantizing = scope.spawn(|| q.push_le_bytes(bytes, first));
                self.apply_ops(batch.ops());
                quantizing
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
        } else {
            let bad = q.push_le_bytes(bytes, first);
            self.apply_ops(batch.ops());
            bad
        };
        self.quantized = Some(q);
        match bad {
            None => Ok(()),
            Some(i) => Err(Error::invalid(format!(
                "row {} (at byte {}) has a non-finite component: Scan::Int8 cannot bound \
                 its score; open the store with Scan::F32",
                before + i,
                first + (i * self.dim * 4) as u64
            ))),
        }
    }

    /// Applies ops already on disk, as views: read from the file, or of a
    /// batch the store just wrote. Ops that refer to missing things are
    /// no-ops, as on replay (SPEC.md §7.2). Names and ids are copied from
    /// the views, and only string attribute values allocate. Leaves the
    /// vector buffer alone: the i-th upsert's vector must be there already.
    pub(crate) fn apply_ops<'b>(&mut self, ops: impl IntoIterator<Item = OpRef<'b>>) {
        for op in ops {
            match op {
                OpRef::CreateCollection { name } => {
                    self.create(name);
                }
                OpRef::DropCollection { name } => self.drop_collection(name),
                OpRef::SetMetadata {
                    collection,
                    key,
                    value,
                } => self.set_metadata(collection, key, value),
                OpRef::Upsert {
                    collection,
                    id,
                    attrs,
                } => {
                    let compact = self.keys.compact_ref(&attrs);
                    self.upsert(collection, id, compact);
                }
                OpRef::Delete { collection, id } => self.delete(collection, id),
                // A newer minor version's op: the reader refuses those
                // before lending a view, so this is unreachable in practice.
                _ => {}
            }
        }
    }

    fn drop_collection(&mut self, name: &str) {
        if let Some(slot) = self.by_name.remove(name)
            && let Some(c) = self.collections[slot as usize].take()
        {
            for row in c.live.iter() {
                self.live.clear(row);
            }
        }
    }

    fn set_metadata(&mut self, collection: &str, key: &str, value: Option<&str>) {
        if let Some(slot) = self.slot(collection)
            && let Some(c) = self.collections[slot as usize].as_mut()
        {
            match value {
                Some(v) => c.metadata.insert(key.to_owned(), v.to_owned()),
                None => c.metadata.remove(key),
            };
        }
    }

    /// Appends the next row (its vector is already in the buffer).
    fn upsert(&mut self, collection: &str, id: &str, attrs: RowAttrs) {
        let slot = self.create(collection);
        let row = self.rows();
        self.owner.push(slot);
        self.id_arena.push_str(id);
        self.id_ends.push(self.id_arena.len() as u64);
        self.attr_heap += crate::attrs::heap_bytes(&attrs);
        self.attrs.push(attrs);
        self.live.set(row);
        let (hasher, arena, ends) = (&self.hasher, &self.id_arena, &self.id_ends);
        let id_of = |r: u32| row_id_in(arena, ends, r as usize);
        let c = self.collections[slot as usize]
            .as_mut()
            .expect("create() returns a live slot");
        c.live.set(row);
        if let Some(old) = c.ids.insert(hasher, id, row as u32, id_of) {
            c.live.clear(old as usize);
            self.live.clear(old as usize);
        }
    }

    fn delete(&mut self, collection: &str, id: &str) {
        let Some(slot) = self.slot(collection) else {
            return;
        };
        let (hasher, arena, ends) = (&self.hasher, &self.id_arena, &self.id_ends);
        let id_of = |r: u32| row_id_in(arena, ends, r as usize);
        let removed = self.collections[slot as usize]
            .as_mut()
            .and_then(|c| c.ids.remove(hasher, id, id_of));
        if let Some(old) = removed {
            self.kill(slot, old as usize);
        }
    }

    /// Drops dead rows, keeping the live ones in order, and renumbers
    /// collections densely in slot order: the state a reopen of the
    /// compacted file produces (SPEC.md §6.5).
    ///
    /// [`Scan::Int8`]: `moved` holds the rows' offsets in the new file (by
    /// old row) and the live rows' codes, as the compaction re-read them.
    /// The offsets are switched first, so that they fit the new file even
    /// if this fails for lack of memory.
    pub(crate) fn compact(&mut self, moved: Option<Moved>) -> Result<()> {
        let mut new_codes = None;
        if let (Some(q), Some(m)) = (&mut self.quantized, moved) {
            q.offsets = m.offsets_by_old;
            new_codes = Some(m.live_rows);
        }
        let rows = self.rows();
        let dim = self.dim;
        // Old row -> new row, u32::MAX for dead rows.
        let mut new_row: Vec<u32> = Vec::new();
        new_row.try_reserve_exact(rows)?;
        let mut next = 0u32;
        for r in 0..rows {
            if self.live.contains(r) {
                new_row.push(next);
                next += 1;
            } else {
                new_row.push(u32::MAX);
            }
        }
        let mut new_slot: Vec<u32> = Vec::with_capacity(self.collections.len());
        let mut kept = 0u32;
        for c in &self.collections {
            new_slot.push(if c.is_some() { kept } else { u32::MAX });
            kept += u32::from(c.is_some());
        }
        let mut id_arena = String::new();
        id_arena.try_reserve(self.id_arena.len())?;
        let mut id_ends = Vec::new();
        id_ends.try_reserve_exact(next as usize)?;
        for (r, &to) in new_row.iter().enumerate() {
            if to != u32::MAX {
                let to = to as usize;
                if to != r && self.quantized.is_none() {
                    self.vectors.copy_within(r * dim..(r + 1) * dim, to * dim);
                }
                id_arena.push_str(self.row_id(r));
                id_ends.push(id_arena.len() as u64);
            }
        }
        if let Some(q) = &mut self.quantized {
            let mut r = 0;
            q.offsets.retain(|_| {
                r += 1;
                new_row[r - 1] != u32::MAX
            });
            q.offsets.shrink_to_fit();
            if let Some(codes) = new_codes {
                q.rows = codes;
            }
            debug_assert_eq!(q.rows.len(), next as usize);
        } else {
            self.vectors.truncate(next as usize * dim);
        }
        self.vectors.shrink_to_fit();
        id_arena.shrink_to_fit();
        self.id_arena = id_arena;
        self.id_ends = id_ends;
        let mut r = 0;
        self.attrs.retain(|_| {
            r += 1;
            new_row[r - 1] != u32::MAX
        });
        self.attrs.shrink_to_fit();
        self.attr_heap = self.attrs.iter().map(|a| crate::attrs::heap_bytes(a)).sum();
        let mut r = 0;
        self.owner.retain(|_| {
            r += 1;
            new_row[r - 1] != u32::MAX
        });
        for o in &mut self.owner {
            *o = new_slot[*o as usize];
        }
        self.owner.shrink_to_fit();
        self.collections.retain(Option::is_some);
        for s in self.by_name.values_mut() {
            *s = new_slot[*s as usize];
        }
        for c in self.collections.iter_mut().flatten() {
            c.ids.renumber(|r| new_row[r as usize]);
            c.live = SpanBitmap::default();
        }
        for (row, &slot) in self.owner.iter().enumerate() {
            if let Some(c) = self.collections[slot as usize].as_mut() {
                c.live.set(row);
            }
        }
        self.live = SpanBitmap::from_sorted(0..next as usize);
        Ok(())
    }

    /// Gives back spare capacity of the per-row arrays (after loading a
    /// file, when they grew by doubling): in-place shrinks for large blocks.
    pub(crate) fn shrink_to_fit(&mut self) {
        self.vectors.shrink_to_fit();
        if let Some(q) = &mut self.quantized {
            q.offsets.shrink_to_fit();
        }
        self.owner.shrink_to_fit();
        self.id_arena.shrink_to_fit();
        self.id_ends.shrink_to_fit();
        self.attrs.shrink_to_fit();
    }

    /// Collections in slot order (the order compaction writes them).
    pub(crate) fn collections_by_slot(&self) -> impl Iterator<Item = &Collection> {
        self.collections.iter().flatten()
    }

    /// Bytes in use by part, from lengths rather than capacities (what the
    /// memory budget counts).
    pub(crate) fn heap_bytes_used(&self) -> HeapBytes {
        let rows = self.rows();
        let vectors =
            self.vectors.len() * 4 + self.quantized.as_ref().map_or(0, Quantized::used_bytes);
        let ids = self.id_arena.len() + rows * 8;
        let attrs = rows * std::mem::size_of::<RowAttrs>() + self.attr_heap;
        // Owner, id-map slot (~20 bytes) and bitmap bits per live row.
        let index = rows * 4 + self.live_rows() * 21;
        HeapBytes {
            vectors,
            ids,
            attrs,
            index,
        }
    }

    /// Heap bytes held by part, from capacities (what
    /// [`crate::Store::footprint`] reports).
    pub(crate) fn heap_bytes(&self) -> HeapBytes {
        let vectors =
            self.vectors.capacity() * 4 + self.quantized.as_ref().map_or(0, Quantized::heap_bytes);
        let ids = self.id_arena.capacity() + self.id_ends.capacity() * 8;
        let attrs = self.attrs.capacity() * std::mem::size_of::<RowAttrs>()
            + self.attr_heap
            + self.keys.heap_bytes();
        let index = self.owner.capacity() * 4
            + self.live.heap_bytes()
            + self
                .collections
                .iter()
                .flatten()
                .map(|c| c.ids.heap_bytes() + c.live.heap_bytes() + c.name.len() + 64)
                .sum::<usize>();
        HeapBytes {
            vectors,
            ids,
            attrs,
            index,
        }
    }
}

/// Staging buffers ([`Scan::Int8`]) over this many floats (16 MiB) are
/// given back once their rows are quantized.
const STAGING_KEEP_FLOATS: usize = 4 << 20;

/// Where a compaction moved the rows ([`Scan::Int8`]; see [`Model::compact`]).
#[derive(Debug)]
pub(crate) struct Moved {
    /// Each old row's vector offset in the new file (`u64::MAX` if dead).
    pub(crate) offsets_by_old: Vec<u64>,
    /// The live rows, in order, quantized from the vectors copied.
    pub(crate) live_rows: nidus_kernel::Int8Rows,
}

fn row_id_in<'a>(arena: &'a str, ends: &[u64], row: usize) -> &'a str {
    let start = if row == 0 { 0 } else { ends[row - 1] };
    &arena[start as usize..ends[row] as usize]
}
