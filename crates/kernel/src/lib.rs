//! nidus-kernel: exact cosine top-k over row-major `f32` matrices, at memory
//! bandwidth for one query and near the FMA peak for many.
//!
//! It provides [`top_k`] (one query), [`top_k_batch`] (many queries, one
//! pass over the matrix), [`normalize`] and [`dot`], each dispatched at run
//! time to the best SIMD [`Tier`] of the CPU (AVX-512F, AVX2+FMA, NEON, or a
//! portable path), plus the [`Kernel`] handle that binds one tier
//! explicitly. It works on slices and knows nothing of files. (The helpers
//! nidus-store loads and normalizes rows with, and the machine probes of
//! `nidus bench`, are public for those crates but hidden from these docs.)
//!
//! [`Int8Rows`] keeps rows as int8 codes with rigorous error bounds (a
//! quarter of the bytes); [`Kernel::int8_top_k`] and
//! [`Kernel::int8_top_k_batch`] search them and return exactly what the
//! `f32` scan returns, fetching the few `f32` rows they must rescore
//! through a callback (see [`int8`] for the bound and its proof).
//!
//! ```
//! use nidus_kernel::{normalize, top_k, top_k_batch, RowFilter, ScanOptions};
//!
//! # fn main() -> Result<(), nidus_kernel::KernelError> {
//! let dim = 3;
//! let mut matrix = vec![
//!     1.0, 0.0, 0.0, // row 0
//!     0.0, 1.0, 0.0, // row 1
//!     1.0, 1.0, 0.0, // row 2
//! ];
//! for row in matrix.chunks_mut(dim) {
//!     normalize(row)?;
//! }
//! let mut query = vec![1.0, 0.2, 0.0];
//! normalize(&mut query)?;
//!
//! let hits = top_k(&query, &matrix, dim, &ScanOptions::top(2))?;
//! assert_eq!(hits.iter().map(|h| h.row).collect::<Vec<_>>(), [0, 2]);
//! assert!(hits[0].score > 0.98 && hits[0].score <= 1.0 + 1e-6);
//!
//! // Only rows 1 and 2 are allowed (bits 1 and 2 of word 0).
//! let allowed = [0b110u64];
//! let opts = ScanOptions::top(2).filter(RowFilter::new(&allowed)).min_score(0.5);
//! assert_eq!(top_k(&query, &matrix, dim, &opts)?[0].row, 2);
//!
//! // Two queries in one pass: the same answers as two single scans.
//! let queries = [query.clone(), vec![0.0, 1.0, 0.0]].concat();
//! let batch = top_k_batch(&queries, &matrix, dim, &ScanOptions::top(1))?;
//! assert_eq!(batch[0], top_k(&query, &matrix, dim, &ScanOptions::top(1))?);
//! assert_eq!(batch[1][0].row, 1);
//! # Ok(())
//! # }
//! ```
//!
//! # Numerical contract
//!
//! * A score is the dot product of the query and a row. With unit vectors
//!   (what [`normalize`] makes and the store keeps) that is the **cosine
//!   similarity**, in `[-1, 1]` up to rounding: higher is closer. It is a
//!   similarity, not a distance. The kernel does not normalize for you, so
//!   with other vectors the score is just the dot product.
//! * Zero vectors have no direction: [`normalize`] refuses them (and NaN or
//!   infinite components) with an error, so a store that normalizes on
//!   insert never holds one. A zero row scanned anyway scores `0.0`.
//! * Sums are in `f32` with 8 (AVX2, NEON, portable) or 16 (AVX-512) lane
//!   accumulators and a fixed pairwise tree, so a score differs from the
//!   exact dot product by at most about `d * f32::EPSILON * Σ|q_i r_i|`
//!   (the tests check this bound against an `f64` reference for every tier).
//! * Within one tier, scores are reproducible to the bit: [`dot`], the
//!   single scan, the batch scan and any thread count give the same `f32`
//!   for the same pair. Different tiers may differ in the last bits.
//! * Results are ordered by score, best first; equal scores by ascending
//!   row; a NaN score (from a NaN in the data) ranks after every number and
//!   never passes `min_score`.
//!
//! # Design
//!
//! * **Dispatch** (as in memchr): the CPU is probed once and the result
//!   cached in an atomic; each tier is a table of functions its module only
//!   hands out after detecting the features it needs, which is what makes
//!   the intrinsics sound. [`force_tier`] lowers the tier process-wide;
//!   [`Kernel::new`] binds one tier without global state, which is how the
//!   tests and benches run every tier on one machine.
//! * **One query** is bound by memory bandwidth, not arithmetic, so the
//!   scan is shaped for the memory system: rows are read in address order
//!   (one sequential stream the hardware prefetcher follows; interleaving
//!   rows in a register tile made several streams and measured 20-35%
//!   slower), each row an independent FMA chain the out-of-order core
//!   overlaps with the next. Scores then pass a threshold test against the
//!   current k-th best (8 at a time, branch-free) before any heap work.
//! * **Many queries** are blocked like a GEMM. A register tile of 4 queries
//!   x 3 rows (AVX2; 4 x 6 on AVX-512) keeps 12 (24) dot products in
//!   flight, so each vector loaded feeds several FMAs, and every
//!   accumulator stays in a register (see *Register check* below). Around
//!   it, a panel of rows sized for L1 meets every 4-query tile in turn, and
//!   blocks of about 128 KiB of rows are scored against up to 64 queries at
//!   a time, so the matrix is read from memory once per 64 queries and the
//!   queries stay in L2. On AVX-512, vectors wider than 768 floats are also
//!   cut into dimension blocks, each pair's accumulator carried from block
//!   to block (same arithmetic, same bits). Queries (once per call) and, on
//!   AVX2 with 16+ queries, row panels not on 32-byte boundaries are copied
//!   to 64-byte boundaries, so no 32-byte load splits a cache line. A batch
//!   of one query runs the single-query scan; 2 or 3 queries (or a
//!   remainder of a batch) run narrower register tiles rather than padded
//!   4-query ones.
//! * **Threads**: workers under `std::thread::scope` (the caller is one of
//!   them) claim chunks of rows (whole 64-row filter words, about 32 chunks
//!   per worker) from a shared counter, each with its own top-k, merged at
//!   the end. Dynamic chunks rather than fixed halves, because the machines
//!   nidus runs on are shared: a worker whose core is busy hands its rows to
//!   the others instead of holding up the join. Inputs under about a million
//!   multiply-adds per worker run on the calling thread alone: a spawn costs
//!   more than that.
//! * **Filters** are bitmaps read a word at a time; zero words are skipped
//!   without touching their rows. Without a filter the scan pays nothing.
//!
//! # Register check
//!
//! The batch kernels are only fast if the compiler keeps every accumulator
//! and row pointer of the register tile in a register: a spill costs a load
//! and a store per multiply-add (the first AVX-512 tile ran at 30% of the
//! FMA peak that way). `scripts/check-registers.sh` (from the repository
//! root) builds this crate in release, disassembles the batch kernel of
//! every x86-64 tier (AVX-512, AVX2 and portable, as compiled, whatever the
//! CPU it runs on), and likewise the int8 scan's integer dot products
//! (AVX-512 VNNI, AVX2, portable) and the int8 quantizer's AVX-512 and AVX2
//! builds, finds the innermost loops that do the multiply-adds and fails if any of their instructions reads or writes
//! the stack; `-v` prints the loops. It needs `objdump` (binutils), not an
//! AVX-512 CPU. The NEON tier is not covered (it needs an aarch64 build).
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(missing_docs)]

mod error;
mod fill;
pub mod int8;
mod normalize;
mod probe;
mod row_filter;
mod scan;
mod select;
mod simd;
mod tier;

#[cfg(test)]
mod tests;

pub use error::KernelError;
pub use int8::{
    INT8_MAX_DIM, Int8Error, Int8Rows, Int8Search, RowMeta, fetch_from_matrix, int8_top_k,
    int8_top_k_batch,
};
pub use normalize::{UNIT_NORM_TOLERANCE, normalize};
pub use row_filter::RowFilter;
pub use tier::{Kernel, Tier, active_tier, best_tier, force_tier};

// Cross-crate plumbing: the store's loading and normalizing paths and the
// CLI's `bench` probes. Public because those crates need them, kept out of
// the docs: a user of the kernel searches ([`top_k`], [`top_k_batch`]),
// takes dot products ([`dot`]) and normalizes ([`normalize`]).
#[doc(hidden)]
pub use fill::{PARALLEL_MIN_FLOATS, extend_from_le_bytes_while};
#[doc(hidden)]
pub use normalize::{normalize_append, normalize_into_slice};
#[doc(hidden)]
pub use probe::{measure_fma_peak, measure_read_bandwidth};

/// One result: the score (the dot product of query and row; the cosine
/// similarity for unit vectors) and the row's index in the matrix.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct RowHit {
    /// Dot product of the query and the row.
    pub score: f32,
    /// Row index (0-based) in the matrix.
    pub row: usize,
}

/// How to scan: how many results, which rows, which scores, how many
/// threads. Build with [`ScanOptions::top`] and the builder methods.
#[derive(Debug, Clone)]
pub struct ScanOptions<'a> {
    /// The number of results wanted (fewer come back if fewer rows qualify;
    /// 0 returns nothing without scanning).
    pub k: usize,
    /// Only rows this bitmap allows are scored; `None` allows every row.
    pub filter: Option<RowFilter<'a>>,
    /// Only rows scoring at least this much are returned (NaN is an error).
    pub min_score: Option<f32>,
    /// Worker threads: 0 = `std::thread::available_parallelism()`. Small
    /// inputs use fewer (see the crate docs), and never more than 256.
    pub threads: usize,
}

impl<'a> ScanOptions<'a> {
    /// The best `k` rows, no filter, no minimum score, all cores.
    pub fn top(k: usize) -> Self {
        ScanOptions {
            k,
            filter: None,
            min_score: None,
            threads: 0,
        }
    }

    /// Only rows `filter` allows.
    pub fn filter(mut self, filter: RowFilter<'a>) -> Self {
        self.filter = Some(filter);
        self
    }

    /// Only rows scoring `>= min_score`.
    pub fn min_score(mut self, min_score: f32) -> Self {
        self.min_score = Some(min_score);
        self
    }

    /// Use `threads` worker threads (0 = all cores).
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = threads;
        self
    }
}

impl Kernel {
    /// [`top_k`] with this kernel's tier.
    pub fn top_k(
        &self,
        query: &[f32],
        matrix: &[f32],
        dim: usize,
        opts: &ScanOptions<'_>,
    ) -> Result<Vec<RowHit>, KernelError> {
        scan::top_k(
            self.imp,
            query,
            matrix,
            dim,
            opts,
            scan::MIN_WORK_PER_THREAD,
        )
    }

    /// [`top_k_batch`] with this kernel's tier.
    pub fn top_k_batch(
        &self,
        queries: &[f32],
        matrix: &[f32],
        dim: usize,
        opts: &ScanOptions<'_>,
    ) -> Result<Vec<Vec<RowHit>>, KernelError> {
        scan::top_k_batch(
            self.imp,
            queries,
            matrix,
            dim,
            opts,
            scan::MIN_WORK_PER_THREAD,
        )
    }

    /// [`dot`] with this kernel's tier.
    ///
    /// # Panics
    ///
    /// If `a` and `b` differ in length, as [`dot`].
    pub fn dot(&self, a: &[f32], b: &[f32]) -> f32 {
        // A length mismatch is a bug in the caller, like an out-of-bounds
        // index: panic (std's convention, e.g. `copy_from_slice`) rather
        // than return a NaN that would rank silently. `try_dot` is the
        // checked form for lengths that come from input.
        assert_eq!(
            a.len(),
            b.len(),
            "nidus_kernel::dot: slices of different lengths"
        );
        (self.imp.dot)(a, b)
    }

    /// [`try_dot`] with this kernel's tier.
    pub fn try_dot(&self, a: &[f32], b: &[f32]) -> Result<f32, KernelError> {
        if a.len() != b.len() {
            return Err(KernelError::DimensionMismatch {
                expected: a.len(),
                got: b.len(),
            });
        }
        Ok((self.imp.dot)(a, b))
    }
}

/// The top `opts.k` rows of `matrix` (row-major, `dim` floats per row) by
/// dot product with `query`, best first, ties by ascending row, NaN scores
/// after every number; only rows the filter allows and that reach
/// `min_score` take part.
///
/// Errors: [`KernelError::ZeroDimension`], [`KernelError::MatrixShape`] (the
/// matrix is not whole rows), [`KernelError::DimensionMismatch`] (the query
/// is not `dim` long; it is never truncated), [`KernelError::InvalidMinScore`].
pub fn top_k(
    query: &[f32],
    matrix: &[f32],
    dim: usize,
    opts: &ScanOptions<'_>,
) -> Result<Vec<RowHit>, KernelError> {
    Kernel::active().top_k(query, matrix, dim, opts)
}

/// [`top_k`] for `B` queries at once (`queries` row-major, `B * dim` floats),
/// reading the matrix once per block of 64 queries instead of once per
/// query. Returns `B` lists, each exactly what [`top_k`] returns for that
/// query (same scores to the bit, same order).
///
/// Errors: as [`top_k`], with [`KernelError::QueriesShape`] when
/// `queries.len()` is not a multiple of `dim`.
pub fn top_k_batch(
    queries: &[f32],
    matrix: &[f32],
    dim: usize,
    opts: &ScanOptions<'_>,
) -> Result<Vec<Vec<RowHit>>, KernelError> {
    Kernel::active().top_k_batch(queries, matrix, dim, opts)
}

/// Dot product with the active tier; the same `f32` that [`top_k`] reports
/// as the score of `b` for query `a`.
///
/// # Panics
///
/// If `a` and `b` differ in length (use [`try_dot`] for an error instead).
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    Kernel::active().dot(a, b)
}

/// Dot product with the active tier, or [`KernelError::DimensionMismatch`]
/// if the lengths differ.
pub fn try_dot(a: &[f32], b: &[f32]) -> Result<f32, KernelError> {
    Kernel::active().try_dot(a, b)
}
