//! The AVX-512F tier (x86-64 Skylake-X, Zen 4 and later).
//!
//! The same structure as the AVX2 tier with 16-lane `__m512` accumulators
//! and 32 registers: the batch tile is 4 queries x 6 rows, so 24
//! accumulators, 6 row vectors and 1 query vector. The last partial chunk is a zero-masked
//! load (`__mmask16`). A pair's 16 lanes are folded to 8 (low half + high
//! half) and then summed with the AVX2 `reduce4` tree, so the reduction is
//! the same code in every path of this tier.
//!
//! Not every machine that builds nidus has AVX-512 (the development machine
//! does not); the tests run this tier wherever it is detected and say so
//! when they skip it.

use std::arch::x86_64::*;

use super::avx2::reduce4;
use super::{Impl, batch_ok, next_panel_row, rows_ok, store_tile};
use crate::Tier;

static IMPL: Impl = Impl {
    tier: Tier::Avx512,
    dot,
    score_rows,
    score_rows_batch,
    sum,
    fma_probe,
    fma_flops_per_iter: (PROBE_ACCS * L * 2) as u64,
};

/// The AVX-512 implementation, if this CPU has AVX-512F, AVX2 and FMA. This
/// check is the only way to reach the functions below, which is what makes
/// their `unsafe` blocks sound.
pub(crate) fn get() -> Option<&'static Impl> {
    if is_x86_feature_detected!("avx512f")
        && is_x86_feature_detected!("avx2")
        && is_x86_feature_detected!("fma")
    {
        Some(&IMPL)
    } else {
        None
    }
}

const L: usize = 16;
const SINGLE_ROWS: usize = 8;
const BATCH_Q: usize = 4;
const BATCH_R: usize = 6;
/// L1 budget for a row panel plus one query tile.
const PANEL_BYTES: usize = 24 * 1024;

/// Lanes of `x` folded in half: `lo[i] + hi[i]`.
#[inline]
#[target_feature(enable = "avx512f,avx2,fma")]
fn fold(x: __m512) -> __m256 {
    let lo = _mm512_castps512_ps256(x);
    let hi = _mm256_castpd_ps(_mm512_extractf64x4_pd::<1>(_mm512_castps_pd(x)));
    _mm256_add_ps(lo, hi)
}

/// `__mmask16` selecting the first `r` lanes (`r < 16`).
#[inline]
fn tail_mask(r: usize) -> __mmask16 {
    ((1u32 << r) - 1) as __mmask16
}

/// Dot products of one query with `R` rows, one row after the other (one
/// sequential memory stream; see the AVX2 tier for the measurements).
///
/// # Safety
/// The CPU has AVX-512F, AVX2 and FMA; `q` and every `rows[i]` point to at
/// least `dim` readable floats.
#[inline]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn tile_single<const R: usize>(
    q: *const f32,
    rows: [*const f32; R],
    dim: usize,
) -> [f32; R] {
    let mut acc = [_mm512_setzero_ps(); R];
    let full = dim / L * L;
    for (a, &row) in acc.iter_mut().zip(&rows) {
        let mut at = 0;
        while at < full {
            // SAFETY: at + 16 <= dim, and both pointers have dim readable floats.
            unsafe {
                *a = _mm512_fmadd_ps(_mm512_loadu_ps(q.add(at)), _mm512_loadu_ps(row.add(at)), *a);
            }
            at += L;
        }
        if full < dim {
            let mask = tail_mask(dim - full);
            // SAFETY: the zero-masked loads read only the dim - full floats
            // left in each vector (offsets full..dim); masked lanes never fault.
            unsafe {
                let qv = _mm512_maskz_loadu_ps(mask, q.add(full));
                *a = _mm512_fmadd_ps(qv, _mm512_maskz_loadu_ps(mask, row.add(full)), *a);
            }
        }
    }
    let mut out = [0.0f32; R];
    let z = _mm256_setzero_ps();
    for (i, o) in out.chunks_mut(4).enumerate() {
        let g = |j: usize| {
            if i * 4 + j < R {
                fold(acc[i * 4 + j])
            } else {
                z
            }
        };
        let s = reduce4(g(0), g(1), g(2), g(3));
        let mut lanes = [0.0f32; 4];
        // SAFETY: `lanes` is 4 floats, the size of an unaligned __m128 store.
        unsafe { _mm_storeu_ps(lanes.as_mut_ptr(), s) };
        o.copy_from_slice(&lanes[..o.len()]);
    }
    out
}

/// Dot products of `BATCH_Q` queries with `BATCH_R` rows, as `[query][row]`.
/// With `PF`, also prefetches the row at `pf` (in the next panel) into L2,
/// one cache line (16 floats) per step, as the AVX2 tier does.
///
/// # Safety
/// The CPU has AVX-512F, AVX2 and FMA; every pointer (`qs`, `rows`, `pf`)
/// has at least `dim` readable floats.
#[inline]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn tile_batch<const PF: bool>(
    qs: [*const f32; BATCH_Q],
    rows: [*const f32; BATCH_R],
    pf: *const f32,
    dim: usize,
) -> [[f32; BATCH_R]; BATCH_Q] {
    let mut acc = [[_mm512_setzero_ps(); BATCH_R]; BATCH_Q];
    let full = dim / L * L;
    let mut at = 0;
    while at < full {
        // SAFETY: at + 16 <= dim, and every pointer has dim readable floats;
        // a prefetch never faults.
        unsafe {
            if PF {
                _mm_prefetch::<_MM_HINT_T1>(pf.add(at).cast());
            }
            let rv = rows.map(|r| _mm512_loadu_ps(r.add(at)));
            for q in 0..BATCH_Q {
                let qv = _mm512_loadu_ps(qs[q].add(at));
                for r in 0..BATCH_R {
                    acc[q][r] = _mm512_fmadd_ps(qv, rv[r], acc[q][r]);
                }
            }
        }
        at += L;
    }
    if full < dim {
        let mask = tail_mask(dim - full);
        // SAFETY: as in `tile_single`.
        unsafe {
            let rv = rows.map(|r| _mm512_maskz_loadu_ps(mask, r.add(full)));
            for q in 0..BATCH_Q {
                let qv = _mm512_maskz_loadu_ps(mask, qs[q].add(full));
                for r in 0..BATCH_R {
                    acc[q][r] = _mm512_fmadd_ps(qv, rv[r], acc[q][r]);
                }
            }
        }
    }
    let mut out = [[0.0f32; BATCH_R]; BATCH_Q];
    for r in 0..BATCH_R {
        let s = reduce4(
            fold(acc[0][r]),
            fold(acc[1][r]),
            fold(acc[2][r]),
            fold(acc[3][r]),
        );
        let mut lanes = [0.0f32; 4];
        // SAFETY: `lanes` is 4 floats, the size of an unaligned __m128 store.
        unsafe { _mm_storeu_ps(lanes.as_mut_ptr(), s) };
        for q in 0..BATCH_Q {
            out[q][r] = lanes[q];
        }
    }
    out
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "kernel bug: dot of unequal lengths");
    // SAFETY: `get` handed out IMPL only after detecting AVX-512F, AVX2 and
    // FMA; both slices have a.len() floats.
    unsafe { tile_single::<1>(a.as_ptr(), [b.as_ptr()], a.len())[0] }
}

/// # Safety
/// The CPU has AVX-512F, AVX2 and FMA, and `rows_ok` holds.
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn score_rows_imp(
    query: &[f32],
    matrix: &[f32],
    dim: usize,
    rows: &[usize],
    out: &mut [f32],
) {
    let base = matrix.as_ptr();
    for (ids, outs) in rows.chunks(SINGLE_ROWS).zip(out.chunks_mut(SINGLE_ROWS)) {
        let last = ids[ids.len() - 1];
        // SAFETY: rows_ok checked every index < matrix.len() / dim.
        let rs: [*const f32; SINGLE_ROWS] =
            std::array::from_fn(|i| unsafe { base.add(ids.get(i).unwrap_or(&last) * dim) });
        // SAFETY: the CPU features per the caller; query has dim floats.
        let s = unsafe { tile_single::<SINGLE_ROWS>(query.as_ptr(), rs, dim) };
        store_tile(outs, 0, &s, outs.len());
    }
}

fn score_rows(query: &[f32], matrix: &[f32], dim: usize, rows: &[usize], out: &mut [f32]) {
    assert!(
        rows_ok(query, matrix, dim, rows, out),
        "kernel bug: bad score_rows shape"
    );
    // SAFETY: only reachable through IMPL (see `get`); shape just checked.
    unsafe { score_rows_imp(query, matrix, dim, rows, out) }
}

/// # Safety
/// The CPU has AVX-512F, AVX2 and FMA, and `batch_ok` holds.
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn score_rows_batch_imp(
    queries: &[f32],
    matrix: &[f32],
    dim: usize,
    rows: &[usize],
    out: &mut [f32],
) {
    let nq = queries.len() / dim;
    let m = rows.len();
    if nq == 0 || m == 0 {
        return;
    }
    let base = matrix.as_ptr();
    // The loop order of the AVX2 tier: L1-sized row panels, then query
    // tiles, then register tiles.
    let panel = (PANEL_BYTES / (dim * 4))
        .saturating_sub(BATCH_Q)
        .max(BATCH_R)
        / BATCH_R
        * BATCH_R;
    let tiles_per_panel = panel / BATCH_R;
    let n = matrix.len() / dim;
    for (p, panel_rows) in rows.chunks(panel).enumerate() {
        for q0 in (0..nq).step_by(BATCH_Q) {
            // SAFETY: min(q0 + i, nq - 1) < nq, so each pointer has dim floats.
            let qs: [*const f32; BATCH_Q] = std::array::from_fn(|i| unsafe {
                queries.as_ptr().add((q0 + i).min(nq - 1) * dim)
            });
            for (t, ids) in panel_rows.chunks(BATCH_R).enumerate() {
                let last = ids[ids.len() - 1];
                // SAFETY: batch_ok checked every index < matrix.len() / dim.
                let rs: [*const f32; BATCH_R] =
                    std::array::from_fn(|i| unsafe { base.add(ids.get(i).unwrap_or(&last) * dim) });
                // Early query tiles prefetch the next panel's rows.
                let pf_row = next_panel_row(
                    rows,
                    (p + 1) * panel,
                    panel,
                    (q0 / BATCH_Q) * tiles_per_panel + t,
                    n,
                );
                // SAFETY: the CPU features per the caller; pointers have dim
                // floats (pf_row < n by next_panel_row).
                let s = unsafe {
                    match pf_row {
                        Some(r) => tile_batch::<true>(qs, rs, base.add(r * dim), dim),
                        None => tile_batch::<false>(qs, rs, base, dim),
                    }
                };
                let col = p * panel + t * BATCH_R;
                for (i, srow) in s.iter().enumerate().take(nq - q0) {
                    let at = (q0 + i) * m + col;
                    store_tile(out, at, srow, ids.len());
                }
            }
        }
    }
}

fn score_rows_batch(queries: &[f32], matrix: &[f32], dim: usize, rows: &[usize], out: &mut [f32]) {
    assert!(
        batch_ok(queries, matrix, dim, rows, out),
        "kernel bug: bad score_rows_batch shape"
    );
    // SAFETY: only reachable through IMPL (see `get`); shape just checked.
    unsafe { score_rows_batch_imp(queries, matrix, dim, rows, out) }
}

/// # Safety
/// The CPU has AVX-512F, AVX2 and FMA.
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn sum_imp(data: &[f32]) -> f32 {
    const U: usize = 4;
    let mut acc = [_mm512_setzero_ps(); U];
    let chunks = data.chunks_exact(U * L);
    let rest = chunks.remainder();
    for c in chunks {
        for (u, a) in acc.iter_mut().enumerate() {
            // SAFETY: c has U * 16 floats, so c[u * 16..u * 16 + 16] is in bounds.
            *a = _mm512_add_ps(*a, unsafe { _mm512_loadu_ps(c.as_ptr().add(u * L)) });
        }
    }
    let s = reduce4(fold(acc[0]), fold(acc[1]), fold(acc[2]), fold(acc[3]));
    let mut lanes = [0.0f32; 4];
    // SAFETY: `lanes` is 4 floats.
    unsafe { _mm_storeu_ps(lanes.as_mut_ptr(), s) };
    lanes.iter().sum::<f32>() + rest.iter().sum::<f32>()
}

fn sum(data: &[f32]) -> f32 {
    // SAFETY: only reachable through IMPL (see `get`).
    unsafe { sum_imp(data) }
}

/// Independent FMA chains (2 pipes x 4 cycles latency needs 8; 16 leaves
/// slack).
const PROBE_ACCS: usize = 16;

/// # Safety
/// The CPU has AVX-512F, AVX2 and FMA.
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn fma_probe_imp(iters: u64) -> f32 {
    let m = _mm512_set1_ps(std::hint::black_box(0.999_999_9f32));
    let a = _mm512_set1_ps(std::hint::black_box(1e-7f32));
    let mut acc: [__m512; PROBE_ACCS] = std::array::from_fn(|i| _mm512_set1_ps(i as f32));
    for _ in 0..iters {
        for v in acc.iter_mut() {
            *v = _mm512_fmadd_ps(*v, m, a);
        }
    }
    let mut total = _mm512_setzero_ps();
    for v in acc {
        total = _mm512_add_ps(total, v);
    }
    let z = _mm256_setzero_ps();
    _mm_cvtss_f32(reduce4(fold(total), z, z, z))
}

fn fma_probe(iters: u64) -> f32 {
    // SAFETY: only reachable through IMPL (see `get`).
    unsafe { fma_probe_imp(iters) }
}
