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

/// Copies the first `len` scores of a register tile to `out[at..]`. The
/// full-tile case is a fixed-size copy (plain moves); a variable-length
/// `copy_from_slice` is a `memcpy` call, which per tile cost as much as a
/// quarter of the batch kernel's time.
#[inline(always)]
pub(crate) fn store_tile<const R: usize>(
    out: &mut [f32],
    at: usize,
    scores: &[f32; R],
    len: usize,
) {
    if len == R {
        out[at..at + R].copy_from_slice(scores);
    } else {
        for (o, s) in out[at..at + len].iter_mut().zip(scores) {
            *o = *s;
        }
    }
}

/// The row to prefetch while register tile `i` of the current panel runs:
/// row `i` of the next panel. After the block's last panel, the rows that
/// follow the block's last row in the matrix: the caller's next block in an
/// unfiltered scan (a wrong guess only wastes a prefetch). Always a valid
/// row index (`< n`).
#[cfg(target_arch = "x86_64")] // only the x86 tiers prefetch
#[inline(always)]
pub(crate) fn next_panel_row(
    rows: &[usize],
    next_start: usize,
    panel: usize,
    i: usize,
    n: usize,
) -> Option<usize> {
    if i >= panel {
        return None;
    }
    match rows.get(next_start..) {
        Some(next) if !next.is_empty() => next.get(i).copied(),
        _ => {
            let r = rows.last()? + 1 + i;
            (r < n).then_some(r)
        }
    }
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::next_panel_row;

    #[test]
    fn next_panel_rows_stay_in_the_matrix() {
        let rows: Vec<usize> = (10..40).collect(); // a block of 30 rows, panels of 12
        // Inside the block: the next panel's rows, then nothing past it.
        assert_eq!(next_panel_row(&rows, 12, 12, 0, 100), Some(22));
        assert_eq!(next_panel_row(&rows, 12, 12, 11, 100), Some(33));
        assert_eq!(next_panel_row(&rows, 12, 12, 12, 100), None);
        assert_eq!(next_panel_row(&rows, 24, 12, 5, 100), Some(39));
        assert_eq!(next_panel_row(&rows, 24, 12, 6, 100), None);
        // After the last panel: the rows after the block, never past n.
        assert_eq!(next_panel_row(&rows, 36, 12, 0, 100), Some(40));
        assert_eq!(next_panel_row(&rows, 36, 12, 3, 42), None);
        assert_eq!(next_panel_row(&rows, 36, 12, 1, 42), Some(41));
        assert_eq!(next_panel_row(&[], 0, 12, 0, 42), None);
    }
}
