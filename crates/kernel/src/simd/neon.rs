//! The NEON tier (aarch64). NEON is part of the aarch64 baseline, but the
//! tier is still detected at run time like the x86 ones.
//!
//! A pair's accumulator is two `float32x4_t` (8 lanes, as in the other
//! tiers) fed by `vfmaq_f32`; the last partial chunk is copied into a
//! zero-padded buffer (NEON has no masked load). The batch tile is 4 queries
//! x 2 rows = 16 of the 32 registers for accumulators.

use std::arch::aarch64::*;

use super::{Impl, batch_ok, rows_ok, store_tile};
use crate::Tier;

static IMPL: Impl = Impl {
    tier: Tier::Neon,
    dot,
    score_rows,
    score_rows_batch,
    sum,
    fma_probe,
    fma_flops_per_iter: (PROBE_ACCS * 4 * 2) as u64,
};

/// The NEON implementation, if the CPU has NEON. This check is the only way
/// to reach the functions below, which is what makes their `unsafe` sound.
pub(crate) fn get() -> Option<&'static Impl> {
    if std::arch::is_aarch64_feature_detected!("neon") {
        Some(&IMPL)
    } else {
        None
    }
}

const L: usize = 8;
const BATCH_Q: usize = 4;
const BATCH_R: usize = 2;

#[derive(Clone, Copy)]
struct Acc(float32x4_t, float32x4_t);

/// The fixed tree `((x0+x1)+(x2+x3)) + ((x4+x5)+(x6+x7))`.
#[inline]
#[target_feature(enable = "neon")]
fn reduce(a: Acc) -> f32 {
    let p = vpaddq_f32(a.0, a.1);
    let p2 = vpaddq_f32(p, p);
    vgetq_lane_f32::<0>(p2) + vgetq_lane_f32::<1>(p2)
}

/// The 8 floats at `p`, or the `dim - at` floats left zero-padded.
///
/// # Safety
/// `p` points to at least `dim` readable floats and `at < dim`.
#[inline]
#[target_feature(enable = "neon")]
unsafe fn load(p: *const f32, at: usize, dim: usize) -> Acc {
    if at + L <= dim {
        // SAFETY: at + 8 <= dim floats are readable.
        unsafe { Acc(vld1q_f32(p.add(at)), vld1q_f32(p.add(at + 4))) }
    } else {
        let mut buf = [0.0f32; L];
        // SAFETY: dim - at < 8 floats are readable at p + at, and buf has 8.
        unsafe {
            std::ptr::copy_nonoverlapping(p.add(at), buf.as_mut_ptr(), dim - at);
            Acc(vld1q_f32(buf.as_ptr()), vld1q_f32(buf.as_ptr().add(4)))
        }
    }
}

#[inline]
#[target_feature(enable = "neon")]
fn madd(acc: Acc, a: Acc, b: Acc) -> Acc {
    Acc(vfmaq_f32(acc.0, a.0, b.0), vfmaq_f32(acc.1, a.1, b.1))
}

/// Dot products of `Q` queries with `R` rows, as `[query][row]`.
///
/// # Safety
/// The CPU has NEON; every pointer has at least `dim` readable floats.
#[inline]
#[target_feature(enable = "neon")]
unsafe fn tile<const Q: usize, const R: usize>(
    qs: [*const f32; Q],
    rows: [*const f32; R],
    dim: usize,
) -> [[f32; R]; Q] {
    let z = vdupq_n_f32(0.0);
    let mut acc = [[Acc(z, z); R]; Q];
    let mut at = 0;
    while at < dim {
        // SAFETY: at < dim and every pointer has dim readable floats.
        unsafe {
            let rv = rows.map(|r| load(r, at, dim));
            for q in 0..Q {
                let qv = load(qs[q], at, dim);
                for r in 0..R {
                    acc[q][r] = madd(acc[q][r], qv, rv[r]);
                }
            }
        }
        at += L;
    }
    acc.map(|row| row.map(|a| reduce(a)))
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "kernel bug: dot of unequal lengths");
    // SAFETY: `get` handed out IMPL only after detecting NEON; both slices
    // have a.len() floats.
    unsafe { tile::<1, 1>([a.as_ptr()], [b.as_ptr()], a.len())[0][0] }
}

fn score_rows(query: &[f32], matrix: &[f32], dim: usize, rows: &[usize], out: &mut [f32]) {
    assert!(
        rows_ok(query, matrix, dim, rows, out),
        "kernel bug: bad score_rows shape"
    );
    let base = matrix.as_ptr();
    // Row after row: one sequential memory stream (see the AVX2 tier).
    for (&r, o) in rows.iter().zip(out.iter_mut()) {
        // SAFETY: rows_ok checked r < matrix.len() / dim, so the row has dim
        // floats; only reachable through IMPL (NEON detected).
        *o = unsafe { tile::<1, 1>([query.as_ptr()], [base.add(r * dim)], dim)[0][0] };
    }
}

fn score_rows_batch(queries: &[f32], matrix: &[f32], dim: usize, rows: &[usize], out: &mut [f32]) {
    assert!(
        batch_ok(queries, matrix, dim, rows, out),
        "kernel bug: bad score_rows_batch shape"
    );
    let nq = queries.len() / dim;
    let m = rows.len();
    if nq == 0 || m == 0 {
        return;
    }
    let base = matrix.as_ptr();
    for q0 in (0..nq).step_by(BATCH_Q) {
        // SAFETY: min(q0 + i, nq - 1) < nq, so each pointer has dim floats.
        let qs: [*const f32; BATCH_Q] =
            std::array::from_fn(|i| unsafe { queries.as_ptr().add((q0 + i).min(nq - 1) * dim) });
        for (t, ids) in rows.chunks(BATCH_R).enumerate() {
            let last = ids[ids.len() - 1];
            // SAFETY: batch_ok checked every index < matrix.len() / dim.
            let rs: [*const f32; BATCH_R] =
                std::array::from_fn(|i| unsafe { base.add(ids.get(i).unwrap_or(&last) * dim) });
            // SAFETY: only reachable through IMPL (NEON detected).
            let s = unsafe { tile::<BATCH_Q, BATCH_R>(qs, rs, dim) };
            for (i, srow) in s.iter().enumerate().take(nq - q0) {
                let at = (q0 + i) * m + t * BATCH_R;
                store_tile(out, at, srow, ids.len());
            }
        }
    }
}

/// # Safety
/// The CPU has NEON.
#[target_feature(enable = "neon")]
unsafe fn sum_imp(data: &[f32]) -> f32 {
    let mut acc = [vdupq_n_f32(0.0); 4];
    let chunks = data.chunks_exact(16);
    let rest = chunks.remainder();
    for c in chunks {
        for (u, a) in acc.iter_mut().enumerate() {
            // SAFETY: c has 16 floats, so c[u * 4..u * 4 + 4] is in bounds.
            *a = vaddq_f32(*a, unsafe { vld1q_f32(c.as_ptr().add(u * 4)) });
        }
    }
    let t = vaddq_f32(vaddq_f32(acc[0], acc[1]), vaddq_f32(acc[2], acc[3]));
    vaddvq_f32(t) + rest.iter().sum::<f32>()
}

fn sum(data: &[f32]) -> f32 {
    // SAFETY: only reachable through IMPL (see `get`).
    unsafe { sum_imp(data) }
}

const PROBE_ACCS: usize = 16;

/// # Safety
/// The CPU has NEON.
#[target_feature(enable = "neon")]
unsafe fn fma_probe_imp(iters: u64) -> f32 {
    let m = vdupq_n_f32(std::hint::black_box(0.999_999_9f32));
    let a = vdupq_n_f32(std::hint::black_box(1e-7f32));
    let mut acc: [float32x4_t; PROBE_ACCS] = std::array::from_fn(|i| vdupq_n_f32(i as f32));
    for _ in 0..iters {
        for v in acc.iter_mut() {
            *v = vfmaq_f32(a, *v, m);
        }
    }
    let mut total = vdupq_n_f32(0.0);
    for v in acc {
        total = vaddq_f32(total, v);
    }
    vaddvq_f32(total)
}

fn fma_probe(iters: u64) -> f32 {
    // SAFETY: only reachable through IMPL (see `get`).
    unsafe { fma_probe_imp(iters) }
}
