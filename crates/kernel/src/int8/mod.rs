//! Exact top-k from int8 codes: the same hits as the `f32` scan, bit for
//! bit, from about a quarter of the bytes.
//!
//! The store keeps an [`Int8Rows`] (codes, a scale and two error bounds per
//! row) instead of the `f32` matrix. A search scans the codes, gives every
//! row a score interval that provably contains the score the `f32` scan
//! ([`crate::Kernel::top_k`] of the same tier) would report, and fetches the
//! `f32` rows (through a caller-supplied callback, e.g. positioned reads of
//! the data file) only for the few rows whose interval still reaches the
//! top `k`. Those are scored with the tier's own [`crate::Kernel::dot`],
//! which the kernel guarantees is the scan's score to the bit, and ranked
//! with the scan's own order. This is the VA-file scheme (Weber, Schek,
//! Blott, 1998) with a bound that holds in floating point.
//!
//! # Quantization
//!
//! A row `x` (dimension `d`) becomes a scale `s = maxabs(x) / 127` (an `f32`),
//! codes `c_i = round(x_i / s)` clamped to `[-127, 127]`, and two `f32`
//! numbers computed in `f64` and rounded up: `N >= ||s·c||` and
//! `R >= ||x - s·c||`. The bounds are measured against exactly the stored
//! `s` and `c` (`s·c_i` is exact in `f64`), with the `f64` rounding of the
//! squares, the sum and the square root covered by a relative inflation of
//! `(d + 6)·2⁻⁵²`, so they hold whatever the codes are: an all-zero row
//! has `s = 0`, `c = 0`, `R = ||x||`; a row so tiny that `s` underflows is
//! treated the same way; a row near `f32::MAX` has finite `s` (computed in
//! `f64`) and codes that cannot overflow (clamped). Non-finite rows and
//! queries are refused ([`crate::KernelError::NonFinite`]): the store
//! normalizes both, so it never has one. The query is quantized the same
//! way, giving `s_q`, codes `a`, `R_q`, and `Q >= ||q||`.
//!
//! # The bound
//!
//! Write `q = s_q·a + r_q` and `x = s·c + r_x`. Then, exactly,
//!
//! ```text
//! q·x = s_q·s·(a·c) + r_q·(s·c) + q·r_x
//! ```
//!
//! and by Cauchy-Schwarz `|q·x - s_q·s·(a·c)| <= R_q·N + Q·R` (1).
//!
//! The integer `a·c` is computed exactly in every tier (`|a_i c_i| <= 127²`,
//! so it fits an `i32` for `d <= INT8_MAX_DIM`; see [`INT8_MAX_DIM`]).
//!
//! The `f32` scan does not report `q·x` but a rounded sum `S`. Every tier
//! multiplies each pair once (rounded, or fused into the add) and sums the
//! products with lane accumulators and a fixed tree; whatever the order,
//! each product passes through at most `d + 1` roundings, so with
//! `u = 2⁻²⁴` and `γ_n = n·u / (1 - n·u)` (Higham, *Accuracy and Stability
//! of Numerical Algorithms*, §3.1, §4.2):
//!
//! ```text
//! |S - q·x| <= γ_{d+32}·Σ|q_i x_i| + (d+32)·2⁻¹⁴⁸ <= γ_{d+32}·Q·(N + R) + (d+32)·2⁻¹⁴⁸  (2)
//! ```
//!
//! using `Σ|q_i x_i| <= ||q||·||x|| <= Q·(N + R)`. The second term covers
//! underflow (each product may lose half a subnormal ulp, `2⁻¹⁵⁰`; sums of
//! subnormals are exact); `d + 32` instead of `d + 1` is margin. The bound
//! assumes no partial sum overflows: when `Q·(N + R) >= 2¹²⁶` the interval
//! is `(-inf, +inf)` (the row is always rescored and any score accepted).
//!
//! The approximation is computed in `f64`: `approx = (s_q·s)·(a·c)`, where
//! `s_q·s` is exact (two 24-bit significands) and the product rounds once
//! (relative error `2⁻⁵³`). With `γQ = γ_{d+32}·Q`, the half-width is
//!
//! ```text
//! eps = ((R_q + γQ)·N + (Q + γQ)·R + (d+32)·2⁻¹⁴⁸ + |approx|·2⁻⁵⁰)·(1 + 2⁻⁴⁰)
//! ```
//!
//! (the sum of the bounds of (1) and (2), regrouped so that the two
//! per-query factors, rounded up, are computed once), where the `2⁻⁵⁰`
//! term covers the rounding of `approx` and of the final `approx ± eps`,
//! and the factor `1 + 2⁻⁴⁰` the few roundings (each at most `2⁻⁵³`
//! relative, all terms non-negative) made while computing `eps` itself. By
//! (1) and (2), `lo = approx - eps <= S <= approx + eps = hi` in floating
//! point, for every row. SPEC.md §7.8 states the same bound and proof.
//!
//! # Narrowing with the query's second codes
//!
//! The query's residual `q - s_q·a` is quantized again at `s_q / 256`
//! (codes `a2`, bound `R2 >= ||q - s_q·a - (s_q/256)·a2||`, computed like
//! `R` against exactly these codes). With `D = 256·(a·c) + (a2·c)`, an exact
//! integer, `q·x = (s_q/256)·s·D + r2·(s·c) + q·r_x`, and everything above
//! holds word for word with `s_q/256`, `D` and `R2` in place of `s_q`,
//! `a·c` and `R_q`: a second interval that also contains the scan's score,
//! with the query's half of the width (`R_q·N`) shrunk about 256-fold. A
//! row gets it (one more integer dot, while its codes are in cache from the
//! scan) only once its coarse interval reaches the current cut, and keeps
//! the intersection of the two. On clustered 1M x 384 data this cut the
//! rows rescored per query from 440 to 83.
//!
//! # Why the result is identical to the `f32` scan
//!
//! Phase 1 scans the codes and computes `[lo, hi]` for every allowed row.
//! Let `L` be the `k`-th largest `lo` among rows with `lo >= min_score`
//! (`-inf` if there are fewer than `k`). Those `k` rows qualify (their exact
//! scores are `>= lo >= min_score`) and score at least `L`, so the `k`-th
//! best exact score `S_k` of the whole scan is `>= L`. A row with `hi < L`
//! scores `S <= hi < L <= S_k`, strictly below `k` qualifying rows, so it
//! is not in the top `k` (not even as a tie, which would go to the lower
//! row); a row with `hi < min_score` does not qualify. Every other row is a
//! candidate: the true top `k`, ties at the `k`-th score included, is among
//! the candidates.
//!
//! Phase 2 rescores candidates in descending order of `hi` and keeps the top
//! `k` of the rescored ones by the scan's order (score descending, ties to
//! the lower row; the scan's `min_score` test). It stops when `k` hits are
//! kept and the next candidate's `hi` is strictly below the `k`-th kept
//! score `T`. Every candidate left has `S <= hi < T`; since the rescored
//! rows are a subset of all rows, `T` is at most the scan's `S_k`, so none
//! of them is in the scan's top `k`. Hence every row of the scan's top `k`
//! was rescored, with the scan's own score (same tier's `dot`), and ranking
//! a superset of the top `k` by the same order gives the same top `k`: the
//! same rows, scores and order, bit for bit. Only candidates with
//! `hi >= T` are ever rescored (in rounds of `max(k, 8)`, so at most one
//! round more than that).
//!
//! # Damage
//!
//! Each rescored score is checked against its row's interval. The interval
//! was computed from codes of the row as it was when quantized; a score
//! outside it proves the fetched row is not that row (the file changed
//! after it was read): the search fails with [`Int8Error::OutsideBound`]
//! naming the row and serves nothing.
//!
//! # Memory
//!
//! `d + 12` bytes per row (codes, then `s`, `N`, `R` as `f32`): 396 bytes
//! for `d = 384`, 0.26x of the `f32` matrix.

mod bound;
mod quantize;
mod quantize_tiers;
mod search;
pub(crate) mod simd;

#[cfg(test)]
mod tests;

use std::fmt;

pub use quantize::{INT8_MAX_DIM, Int8Rows, RowMeta};

use crate::scan::check_min_score;
use crate::{Kernel, KernelError, RowHit, ScanOptions};
use bound::QueryBound;
use quantize::check_finite;

/// The result of an int8 search for one query.
#[derive(Debug, Clone, PartialEq)]
pub struct Int8Search {
    /// Exactly what [`Kernel::top_k`] of the same tier returns for the same
    /// query, matrix and options.
    pub hits: Vec<RowHit>,
    /// Rows scored exactly (fetched and rescored) for this query.
    pub rescored: usize,
    /// Rows whose interval (narrowed with the query's second codes) reached
    /// the top `k` after the scan of the codes (`rescored <= candidates`).
    pub candidates: usize,
}

/// Why an int8 search failed.
#[derive(Debug, Clone, PartialEq)]
pub enum Int8Error<E> {
    /// Bad arguments, as the `f32` scan reports them.
    Kernel(KernelError),
    /// The fetch callback failed; its error, unchanged.
    Fetch(E),
    /// The exact score of `row` (from the fetched `f32` row) lies outside
    /// the interval its codes allow: the fetched row is not the row that
    /// was quantized (e.g. the file changed after it was read).
    OutsideBound {
        /// The row.
        row: usize,
        /// Its exact score from the fetched data.
        score: f32,
        /// The interval's lower end.
        lo: f64,
        /// The interval's upper end.
        hi: f64,
    },
}

impl<E> From<KernelError> for Int8Error<E> {
    fn from(e: KernelError) -> Self {
        Int8Error::Kernel(e)
    }
}

impl<E: fmt::Display> fmt::Display for Int8Error<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Int8Error::Kernel(e) => e.fmt(f),
            Int8Error::Fetch(e) => write!(f, "fetching rows to rescore failed: {e}"),
            Int8Error::OutsideBound { row, score, lo, hi } => write!(
                f,
                "row {row} scores {score}, outside [{lo}, {hi}] allowed by its int8 codes: \
                 the row changed after it was quantized"
            ),
        }
    }
}

impl<E: fmt::Debug + fmt::Display> std::error::Error for Int8Error<E> {}

/// A fetch callback over an in-memory row-major `f32` matrix (rows written
/// but not yet on disk, tests, benches): copies the requested rows.
/// Panics if a row is out of range.
pub fn fetch_from_matrix(
    matrix: &[f32],
    dim: usize,
) -> impl FnMut(&[usize], &mut [f32]) -> Result<(), std::convert::Infallible> + '_ {
    move |rows, out| {
        for (&r, o) in rows.iter().zip(out.chunks_exact_mut(dim)) {
            o.copy_from_slice(&matrix[r * dim..(r + 1) * dim]);
        }
        Ok(())
    }
}

fn check_query(rows: &Int8Rows, query: &[f32]) -> Result<(), KernelError> {
    if query.len() != rows.dim() {
        return Err(KernelError::DimensionMismatch {
            expected: rows.dim(),
            got: query.len(),
        });
    }
    check_finite(query)
}

impl Kernel {
    /// The int8 path this kernel's tier runs: `"avx512-vnni"`, `"avx2"` or
    /// `"portable"` (AVX-512 without VNNI runs the AVX2 path; NEON the
    /// portable one).
    pub fn int8_path(&self) -> &'static str {
        simd::int8_impl(self.tier()).name
    }

    /// The top `opts.k` rows for `query`, identical (rows, scores to the
    /// bit, order) to [`Kernel::top_k`] over the `f32` rows that `rows` was
    /// quantized from, found by scanning the codes and rescoring only the
    /// rows whose interval reaches the top `k` (see [the module
    /// docs](crate::int8) for the proof).
    ///
    /// `fetch(rows, out)` must write the `f32` rows `rows` (ascending, no
    /// duplicates) into `out` (`rows.len() * dim` floats, in that order).
    /// It is called a few times per search (once per rescoring round) and
    /// only for rows the filter allows.
    ///
    /// Errors: [`KernelError::DimensionMismatch`] (query length),
    /// [`KernelError::NonFinite`] (query component),
    /// [`KernelError::InvalidMinScore`]; [`Int8Error::Fetch`];
    /// [`Int8Error::OutsideBound`] when a fetched row is not the row that
    /// was quantized.
    pub fn int8_top_k<E>(
        &self,
        rows: &Int8Rows,
        query: &[f32],
        opts: &ScanOptions<'_>,
        mut fetch: impl FnMut(&[usize], &mut [f32]) -> Result<(), E>,
    ) -> Result<Int8Search, Int8Error<E>> {
        check_query(rows, query)?;
        check_min_score(opts)?;
        if opts.k == 0 || rows.is_empty() {
            return Ok(Int8Search {
                hits: Vec::new(),
                rescored: 0,
                candidates: 0,
            });
        }
        let imp = simd::int8_impl(self.tier());
        let min = opts.min_score.map_or(f64::NEG_INFINITY, f64::from);
        let qb = QueryBound::new(query);
        let cands = search::scan_single(imp, rows, &qb, opts, min);
        let mut out = search::rescore(
            self.imp.dot,
            rows.dim(),
            &[query],
            vec![cands],
            opts.k,
            min,
            &mut fetch,
        )?;
        Ok(out.pop().unwrap_or(Int8Search {
            hits: Vec::new(),
            rescored: 0,
            candidates: 0,
        }))
    }

    /// [`Kernel::int8_top_k`] for `B` queries (`queries` row-major, `B * dim`
    /// floats) in one pass over the codes. Returns `B` results, each with
    /// the hits [`Kernel::int8_top_k`] (and so [`Kernel::top_k`]) gives for
    /// that query. Rescoring rounds are shared: each `fetch` asks for the
    /// union of the rows the queries still need.
    ///
    /// Errors: as [`Kernel::int8_top_k`], with [`KernelError::QueriesShape`]
    /// when `queries.len()` is not a multiple of `dim`.
    pub fn int8_top_k_batch<E>(
        &self,
        rows: &Int8Rows,
        queries: &[f32],
        opts: &ScanOptions<'_>,
        mut fetch: impl FnMut(&[usize], &mut [f32]) -> Result<(), E>,
    ) -> Result<Vec<Int8Search>, Int8Error<E>> {
        let dim = rows.dim();
        if !queries.len().is_multiple_of(dim) {
            return Err(KernelError::QueriesShape {
                len: queries.len(),
                dim,
            }
            .into());
        }
        check_finite(queries)?;
        check_min_score(opts)?;
        let qs: Vec<&[f32]> = queries.chunks_exact(dim).collect();
        if opts.k == 0 || rows.is_empty() {
            let empty = Int8Search {
                hits: Vec::new(),
                rescored: 0,
                candidates: 0,
            };
            return Ok(vec![empty; qs.len()]);
        }
        let imp = simd::int8_impl(self.tier());
        let min = opts.min_score.map_or(f64::NEG_INFINITY, f64::from);
        let qbs: Vec<QueryBound> = qs.iter().map(|q| QueryBound::new(q)).collect();
        let cands = search::scan_batch(imp, rows, &qbs, opts, min);
        search::rescore(self.imp.dot, dim, &qs, cands, opts.k, min, &mut fetch)
    }
}

/// [`Kernel::int8_top_k`] with the active tier.
pub fn int8_top_k<E>(
    rows: &Int8Rows,
    query: &[f32],
    opts: &ScanOptions<'_>,
    fetch: impl FnMut(&[usize], &mut [f32]) -> Result<(), E>,
) -> Result<Int8Search, Int8Error<E>> {
    Kernel::active().int8_top_k(rows, query, opts, fetch)
}

/// [`Kernel::int8_top_k_batch`] with the active tier.
pub fn int8_top_k_batch<E>(
    rows: &Int8Rows,
    queries: &[f32],
    opts: &ScanOptions<'_>,
    fetch: impl FnMut(&[usize], &mut [f32]) -> Result<(), E>,
) -> Result<Vec<Int8Search>, Int8Error<E>> {
    Kernel::active().int8_top_k_batch(rows, queries, opts, fetch)
}
