//! Where a row's vector comes from: memory ([`Scan::F32`]) or the data
//! file, checked against the row's codes ([`Scan::Int8`]).
//!
//! [`Scan::F32`]: crate::Scan::F32
//! [`Scan::Int8`]: crate::Scan::Int8

use std::borrow::Cow;

use nidus_kernel::Int8Rows;

use super::Store;
use crate::error::{Error, Result};
use crate::file_rows::FileRows;

impl Store {
    /// A reader of row vectors from the data file ([`Scan::Int8`] only).
    ///
    /// [`Scan::Int8`]: crate::Scan::Int8
    pub(super) fn file_rows(&self) -> Option<FileRows<'_>> {
        let q = self.model.quantized()?;
        Some(FileRows::new(
            &*self.file,
            &self.path,
            self.model.dim,
            &q.offsets,
            self.end,
        ))
    }

    /// The stored unit vector of `row`: borrowed from memory, or read from
    /// the file and checked against the codes kept for it.
    pub(super) fn row_vector(&self, row: usize) -> Result<Cow<'_, [f32]>> {
        if let Some(v) = self.model.row_vector(row) {
            return Ok(Cow::Borrowed(v));
        }
        let mut reader = self.file_rows().expect("no vector in memory: Scan::Int8");
        let mut v = vec![0f32; self.model.dim];
        reader.fetch(&[row], &mut v)?;
        self.check_row(row, &v, &mut self.scratch()?)?;
        Ok(Cow::Owned(v))
    }

    /// An empty int8 row set for [`Store::check_row`].
    pub(super) fn scratch(&self) -> Result<Int8Rows> {
        Int8Rows::new(self.model.dim).map_err(|e| Error::invalid(e.to_string()))
    }

    /// Refuses a vector read back for `row` that is not the one its codes
    /// were made from (the file changed after it was read): quantization
    /// is deterministic, so the row must give exactly the same codes,
    /// scale and bounds.
    pub(super) fn check_row(&self, row: usize, v: &[f32], scratch: &mut Int8Rows) -> Result<()> {
        let Some(q) = self.model.quantized() else {
            return Ok(());
        };
        if q.matches(row, v, scratch) {
            return Ok(());
        }
        Err(self.changed_row(row))
    }

    /// [`Store::check_row`] for a vector already quantized as row `at` of
    /// `rows` (compaction quantizes each row it moves once, for both).
    pub(super) fn check_quantized_row(&self, row: usize, rows: &Int8Rows, at: usize) -> Result<()> {
        match self.model.quantized() {
            Some(q) if !q.same_as(row, rows, at) => Err(self.changed_row(row)),
            _ => Ok(()),
        }
    }

    /// The error for a row whose vector in the file is not the one loaded.
    pub(super) fn changed_row(&self, row: usize) -> Error {
        let at = self.model.quantized().map_or(0, |q| q.offsets[row]);
        Error::corrupt(
            format!(
                "the vector of record {:?} in {:?} at byte {at} is not the one read when the \
                 store was loaded: the data file changed since",
                self.model.row_id(row),
                self.model.row_collection(row),
            ),
            &self.path,
            at,
        )
    }
}
