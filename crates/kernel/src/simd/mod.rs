//! The per-tier primitives, behind one table of function pointers.
//!
//! Every tier computes a score the same way, so that a row's score is the
//! same `f32` whichever entry point computed it (`dot`, the single-query
//! scan, the batch scan):
//!
//! * one accumulator of `LANES` lanes per (query, row) pair, fed by one
//!   (fused, where the tier has FMA) multiply-add per chunk of `LANES`
//!   components, in ascending component order;
//! * the last partial chunk is loaded with the missing lanes as zero;
//! * the lanes are summed with a fixed pairwise tree.
//!
//! The tiers differ only in how many pairs they keep in flight (the register
//! tile), never in the arithmetic of one pair.

pub(crate) mod portable;

#[cfg(target_arch = "x86_64")]
pub(crate) mod avx2;
#[cfg(target_arch = "x86_64")]
pub(crate) mod avx512;
#[cfg(target_arch = "aarch64")]
pub(crate) mod neon;

use crate::Tier;

/// `score_rows` / `score_rows_batch`: (query or queries, matrix, dim, row
/// indices, scores out).
pub(crate) type ScoreFn = fn(&[f32], &[f32], usize, &[usize], &mut [f32]);

/// One tier's implementation. Every function is safe to call with any
/// arguments that pass [`rows_ok`]/[`batch_ok`] (the wrappers assert this,
/// so a bug in a caller panics instead of reading out of bounds).
pub(crate) struct Impl {
    pub(crate) tier: Tier,
    /// Dot product of two equal-length slices.
    pub(crate) dot: fn(&[f32], &[f32]) -> f32,
    /// `out[i] = dot(query, row rows[i] of matrix)`.
    pub(crate) score_rows: ScoreFn,
    /// `out[q * rows.len() + i] = dot(query q, row rows[i])` for every query
    /// in `queries` (row-major, `dim` per query).
    pub(crate) score_rows_batch: ScoreFn,
    /// Sum of all elements (the read-bandwidth probe: same loads, no query).
    pub(crate) sum: fn(&[f32]) -> f32,
    /// A register-only multiply-add loop of `iters` iterations, each doing
    /// `fma_flops_per_iter` floating-point operations (the FMA-peak probe).
    pub(crate) fma_probe: fn(iters: u64) -> f32,
    pub(crate) fma_flops_per_iter: u64,
}

/// The implementation of `tier`, if this CPU and target can run it.
pub(crate) fn implementation(tier: Tier) -> Option<&'static Impl> {
    match tier {
        Tier::Portable => Some(&portable::IMPL),
        #[cfg(target_arch = "x86_64")]
        Tier::Avx2 => avx2::get(),
        #[cfg(target_arch = "x86_64")]
        Tier::Avx512 => avx512::get(),
        #[cfg(target_arch = "aarch64")]
        Tier::Neon => neon::get(),
        #[allow(unreachable_patterns)]
        _ => None,
    }
}

/// Shape check for `score_rows`: every row index names a whole row of
/// `matrix`, the query is one row long and `out` has one slot per row.
pub(crate) fn rows_ok(
    query: &[f32],
    matrix: &[f32],
    dim: usize,
    rows: &[usize],
    out: &[f32],
) -> bool {
    dim > 0 && query.len() == dim && out.len() == rows.len() && rows_in_bounds(matrix, dim, rows)
}

/// Shape check for `score_rows_batch`.
pub(crate) fn batch_ok(
    queries: &[f32],
    matrix: &[f32],
    dim: usize,
    rows: &[usize],
    out: &[f32],
) -> bool {
    dim > 0
        && queries.len().is_multiple_of(dim)
        && (queries.len() / dim).checked_mul(rows.len()) == Some(out.len())
        && rows_in_bounds(matrix, dim, rows)
}

fn rows_in_bounds(matrix: &[f32], dim: usize, rows: &[usize]) -> bool {
    let n = matrix.len() / dim;
    rows.iter().fold(true, |ok, &r| ok & (r < n))
}
