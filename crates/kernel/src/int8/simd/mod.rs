//! Integer dot products of int8 codes, per tier. Every tier returns the
//! exact `i32` value of `Σ a_i b_i` (the tests check each against the
//! portable path bit for bit, at every dimension shape), so the choice of
//! tier changes speed only, never an interval.
//!
//! Exactness: `|a_i b_i| <= 127²`, so for `dim <= INT8_MAX_DIM` the true
//! sum fits an `i32`. Every tier accumulates with wrapping `i32` adds
//! (the hardware's `vpaddd`/`vpdpbusd` wrap too), so even where a partial
//! sum could exceed `i32` (the VNNI offset trick), the result is the true
//! sum modulo 2³², which is the true sum.

pub(crate) mod portable;

#[cfg(target_arch = "x86_64")]
pub(crate) mod avx2;
#[cfg(target_arch = "x86_64")]
pub(crate) mod avx512;

use crate::Tier;

/// `(query codes, all codes, dim, row indices, out)`: `out[i]` = dot of the
/// query with row `rows[i]`.
pub(crate) type DotRowsFn = fn(&[i8], &[i8], usize, &[usize], &mut [i32]);

/// One tier's int8 primitives.
pub(crate) struct Int8Impl {
    /// A short name for tests and benches (`"avx512-vnni"`, ...).
    pub(crate) name: &'static str,
    /// Exact integer dot product of two equal-length code slices (the
    /// narrowing of a passing row's interval with the query's second codes).
    pub(crate) dot: fn(&[i8], &[i8]) -> i32,
    /// See [`DotRowsFn`].
    pub(crate) dot_rows: DotRowsFn,
    /// `out[q * rows.len() + i]` = dot of query `q` (of `queries`, `dim`
    /// codes each) with row `rows[i]`: each row is loaded once for all the
    /// queries.
    pub(crate) dot_rows_batch: DotRowsFn,
}

/// The int8 primitives that go with the `f32` tier `tier`: AVX-512 uses
/// VNNI when the CPU has it (AVX-512 VNNI + BW) and the AVX2 int8 path
/// otherwise; NEON uses the portable path (no aarch64 target is installed
/// here to compile-check intrinsics; the portable loop vectorizes for NEON).
pub(crate) fn int8_impl(tier: Tier) -> &'static Int8Impl {
    match tier {
        #[cfg(target_arch = "x86_64")]
        Tier::Avx512 => avx512::get().or_else(avx2::get).unwrap_or(&portable::IMPL),
        #[cfg(target_arch = "x86_64")]
        Tier::Avx2 => avx2::get().unwrap_or(&portable::IMPL),
        _ => &portable::IMPL,
    }
}

/// Every int8 implementation this machine can run (for the tests).
#[cfg(test)]
pub(crate) fn all_available() -> Vec<&'static Int8Impl> {
    let mut v: Vec<&'static Int8Impl> = vec![&portable::IMPL];
    #[cfg(target_arch = "x86_64")]
    {
        v.extend(avx2::get());
        v.extend(avx512::get());
    }
    v
}

/// Shape check shared by the wrappers: the query is `dim` codes, every row
/// index names a whole row, `out` has one slot per (query, row).
pub(crate) fn shape_ok(
    queries: &[i8],
    codes: &[i8],
    dim: usize,
    rows: &[usize],
    out: &[i32],
) -> bool {
    dim > 0
        && queries.len().is_multiple_of(dim)
        && (queries.len() / dim).checked_mul(rows.len()) == Some(out.len())
        && {
            let n = codes.len() / dim;
            rows.iter().fold(true, |ok, &r| ok & (r < n))
        }
}
