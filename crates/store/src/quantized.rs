//! What a [`Scan::Int8`](crate::Scan::Int8) store keeps per row instead of
//! its `f32` vector: the kernel's int8 codes, scale and bounds, and the
//! offset of the row's vector in the data file, which rescoring reads back
//! (SPEC.md §7.6).

use nidus_kernel::Int8Rows;

use crate::error::{Error, Result};

/// Floats decoded at a time when quantizing a frame's vector block (the
/// block's bytes are little-endian and not necessarily aligned for `f32`).
const DECODE_FLOATS: usize = 16 * 1024;

/// Bytes one row costs besides its codes: scale and two bounds (12), file
/// offset (8).
pub(crate) const ROW_OVERHEAD_BYTES: usize = 12 + 8;

/// The int8 rows and each row's file offset, in row order (live and dead).
#[derive(Debug)]
pub(crate) struct Quantized {
    pub(crate) rows: Int8Rows,
    /// Byte offset of each row's `f32` vector in the data file the store
    /// has open (`u64::MAX` for a dead row a compaction did not copy).
    pub(crate) offsets: Vec<u64>,
}

impl Quantized {
    pub(crate) fn new(dim: usize) -> Result<Quantized> {
        let rows = Int8Rows::new(dim).map_err(|e| Error::invalid(e.to_string()))?;
        Ok(Quantized {
            rows,
            offsets: Vec::new(),
        })
    }

    pub(crate) fn len(&self) -> usize {
        self.offsets.len()
    }

    /// Reserves room for `count` more rows.
    pub(crate) fn reserve(&mut self, count: usize) -> Result<()> {
        self.offsets.try_reserve(count)?;
        self.rows.reserve(count);
        Ok(())
    }

    /// Quantizes `vectors` (whole rows, finite: the store's own unit
    /// vectors) and appends them; row `i` lies at `first_offset + i·dim·4`.
    pub(crate) fn push_rows(&mut self, vectors: &[f32], first_offset: u64) {
        let dim = self.rows.dim();
        let n = vectors.len() / dim;
        self.rows
            .extend_from_f32(vectors)
            .expect("the store's vectors are finite whole rows");
        let row_bytes = (dim * 4) as u64;
        self.offsets
            .extend((0..n as u64).map(|i| first_offset + i * row_bytes));
    }

    /// Quantizes a frame's vector block (`bytes`, little-endian `f32`s,
    /// whole rows) whose first row lies at `first_offset`, and appends its
    /// rows. A non-finite row (only a foreign writer makes one) is kept as
    /// an all-zero row, so the model stays whole: its interval cannot
    /// contain the score its real bytes give, so a search that reaches it
    /// reports it damaged instead of serving it. Returns the first such
    /// row, if any.
    pub(crate) fn push_le_bytes(&mut self, bytes: &[u8], first_offset: u64) -> Option<usize> {
        let dim = self.rows.dim();
        let row_bytes = (dim * 4) as u64;
        let n = (bytes.len() / (dim * 4)) as u64;
        // One thread: the caller applies the batch's ops on another.
        if self.rows.extend_from_le_bytes(bytes, 1).is_ok() {
            self.offsets
                .extend((0..n).map(|i| first_offset + i * row_bytes));
            return None;
        }
        // A non-finite row (nothing was appended): row by row.
        let (cells, _) = bytes.as_chunks::<4>();
        let rows_per_chunk = (DECODE_FLOATS / dim).max(1);
        let mut buf = Vec::with_capacity(rows_per_chunk * dim);
        let mut bad = None;
        for (c, chunk) in cells.chunks(rows_per_chunk * dim).enumerate() {
            buf.clear();
            buf.extend(chunk.iter().map(|b| f32::from_le_bytes(*b)));
            for (r, row) in buf.chunks_exact_mut(dim).enumerate() {
                if row.iter().any(|x| !x.is_finite()) {
                    bad.get_or_insert(c * rows_per_chunk + r);
                    row.fill(0.0);
                }
            }
            self.rows
                .extend_from_f32(&buf)
                .expect("finite whole rows quantize");
        }
        self.offsets
            .extend((0..n).map(|i| first_offset + i * row_bytes));
        bad
    }

    /// Whether `vector` quantizes to exactly the codes, scale and bounds
    /// kept for `row` (quantization is deterministic): a row read back
    /// from the file that fails this is not the row that was loaded.
    pub(crate) fn matches(&self, row: usize, vector: &[f32], scratch: &mut Int8Rows) -> bool {
        scratch.clear();
        if scratch.push(vector).is_err() {
            return false;
        }
        self.same_as(row, scratch, 0)
    }

    /// Whether row `at` of `other`, quantized already, has exactly the codes
    /// and bounds kept for `row` (quantization is deterministic, so the same
    /// vector gives the same bits).
    pub(crate) fn same_as(&self, row: usize, other: &Int8Rows, at: usize) -> bool {
        other.codes(at) == self.rows.codes(row) && other.meta(at) == self.rows.meta(row)
    }

    /// Bytes in use (lengths).
    pub(crate) fn used_bytes(&self) -> usize {
        self.len() * (self.rows.dim() + ROW_OVERHEAD_BYTES)
    }

    /// Bytes held (capacities).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.rows.heap_bytes() + self.offsets.capacity() * 8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn le(rows: &[f32]) -> Vec<u8> {
        rows.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    #[test]
    fn a_block_quantizes_with_its_offsets_and_a_non_finite_row_is_named() {
        let mut q = Quantized::new(2).unwrap();
        assert_eq!(q.push_le_bytes(&le(&[0.6, 0.8, 1.0, 0.0]), 100), None);
        assert_eq!(q.offsets, [100, 108]);
        let mut scratch = Int8Rows::new(2).unwrap();
        assert!(q.matches(0, &[0.6, 0.8], &mut scratch));
        assert!(!q.matches(0, &[0.8, 0.6], &mut scratch));
        // The whole block is kept (the model stays whole); the bad row is
        // named and holds zero codes.
        let bad = le(&[1.0, 0.0, f32::NAN, 1.0, 0.0, 1.0]);
        assert_eq!(q.push_le_bytes(&bad, 200), Some(1));
        assert_eq!(q.offsets, [100, 108, 200, 208, 216]);
        assert_eq!(q.rows.len(), 5);
        assert_eq!(q.rows.codes(3), [0, 0]);
        assert!(q.matches(4, &[0.0, 1.0], &mut scratch));
    }
}
