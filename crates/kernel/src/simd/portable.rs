//! The portable tier: safe Rust the compiler vectorizes for the target's
//! baseline (SSE2 on x86-64, NEON on aarch64). No `unsafe`, so Miri can run
//! it. Each pair keeps an `[f32; 8]` accumulator (two SSE registers), with a
//! separate multiply and add: `f32::mul_add` would be a libm call without
//! hardware FMA.

use super::{Impl, batch_ok, rows_ok};
use crate::Tier;

pub(crate) static IMPL: Impl = Impl {
    tier: Tier::Portable,
    dot,
    score_rows,
    score_rows_batch,
    sum,
    fma_probe,
    fma_flops_per_iter: (PROBE_ACCS * L * 2) as u64,
};

/// Lanes per accumulator.
const L: usize = 8;
/// Rows per register tile in the single-query scan.
const SINGLE_ROWS: usize = 4;
/// Queries x rows per register tile in the batch scan: 6 accumulators = 12
/// SSE registers, leaving 4 for the operands.
const BATCH_Q: usize = 2;
const BATCH_R: usize = 3;

#[inline(always)]
fn madd(acc: &mut [f32; L], a: &[f32; L], b: &[f32; L]) {
    for j in 0..L {
        acc[j] += a[j] * b[j];
    }
}

/// The fixed pairwise summation tree every path uses.
#[inline(always)]
fn reduce(a: &[f32; L]) -> f32 {
    ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]))
}

#[inline(always)]
fn chunk(s: &[f32], at: usize) -> &[f32; L] {
    // The callers only ask for chunks that lie inside `s` (at + L <= dim <=
    // s.len()), so the fallback is never taken; it keeps the code panic-free.
    s.get(at..at + L)
        .and_then(|c| c.try_into().ok())
        .unwrap_or(&[0.0; L])
}

/// The last partial chunk, zero-padded.
#[inline(always)]
fn tail(s: &[f32], from: usize, dim: usize) -> [f32; L] {
    let mut c = [0.0; L];
    let part = &s[from..dim];
    c[..part.len()].copy_from_slice(part);
    c
}

/// Dot products of `Q` queries with `R` rows, each slice at least `dim` long.
#[inline(always)]
fn tile<const Q: usize, const R: usize>(
    qs: [&[f32]; Q],
    rs: [&[f32]; R],
    dim: usize,
) -> [[f32; R]; Q] {
    let mut acc = [[[0.0f32; L]; R]; Q];
    let full = dim / L * L;
    let mut at = 0;
    while at < full {
        let rv = rs.map(|r| chunk(r, at));
        for q in 0..Q {
            let qv = chunk(qs[q], at);
            for r in 0..R {
                madd(&mut acc[q][r], qv, rv[r]);
            }
        }
        at += L;
    }
    if full < dim {
        let rv = rs.map(|r| tail(r, full, dim));
        for q in 0..Q {
            let qv = tail(qs[q], full, dim);
            for r in 0..R {
                madd(&mut acc[q][r], &qv, &rv[r]);
            }
        }
    }
    acc.map(|row| row.map(|a| reduce(&a)))
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "kernel bug: dot of unequal lengths");
    tile::<1, 1>([a], [b], a.len())[0][0]
}

fn row(matrix: &[f32], dim: usize, r: usize) -> &[f32] {
    &matrix[r * dim..(r + 1) * dim]
}

fn score_rows(query: &[f32], matrix: &[f32], dim: usize, rows: &[usize], out: &mut [f32]) {
    assert!(
        rows_ok(query, matrix, dim, rows, out),
        "kernel bug: bad score_rows shape"
    );
    for (ids, outs) in rows.chunks(SINGLE_ROWS).zip(out.chunks_mut(SINGLE_ROWS)) {
        // A short last tile repeats its last row; the extra scores are dropped.
        let last = ids[ids.len() - 1];
        let rs: [&[f32]; SINGLE_ROWS] =
            std::array::from_fn(|i| row(matrix, dim, *ids.get(i).unwrap_or(&last)));
        let s = tile::<1, SINGLE_ROWS>([query], rs, dim);
        outs.copy_from_slice(&s[0][..outs.len()]);
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
    for q0 in (0..nq).step_by(BATCH_Q) {
        let qs: [&[f32]; BATCH_Q] =
            std::array::from_fn(|i| row(queries, dim, (q0 + i).min(nq - 1)));
        for (t, ids) in rows.chunks(BATCH_R).enumerate() {
            let last = ids[ids.len() - 1];
            let rs: [&[f32]; BATCH_R] =
                std::array::from_fn(|i| row(matrix, dim, *ids.get(i).unwrap_or(&last)));
            let s = tile::<BATCH_Q, BATCH_R>(qs, rs, dim);
            for (i, srow) in s.iter().enumerate().take(nq - q0) {
                let base = (q0 + i) * m + t * BATCH_R;
                out[base..base + ids.len()].copy_from_slice(&srow[..ids.len()]);
            }
        }
    }
}

fn sum(data: &[f32]) -> f32 {
    const W: usize = 4 * L;
    let mut acc = [0.0f32; W];
    let chunks = data.chunks_exact(W);
    let rest = chunks.remainder();
    for c in chunks {
        for j in 0..W {
            acc[j] += c[j];
        }
    }
    acc.iter().sum::<f32>() + rest.iter().sum::<f32>()
}

/// Independent accumulators in the probe: enough to cover the add latency
/// times the issue width of the baseline target.
const PROBE_ACCS: usize = 6;

fn fma_probe(iters: u64) -> f32 {
    let m = std::hint::black_box(0.999_999_9f32);
    let a = std::hint::black_box(1e-7f32);
    let mut acc = [[0.0f32; L]; PROBE_ACCS];
    for (i, v) in acc.iter_mut().enumerate() {
        *v = [i as f32; L];
    }
    for _ in 0..iters {
        for v in acc.iter_mut() {
            for x in v.iter_mut() {
                *x = *x * m + a;
            }
        }
    }
    acc.iter().map(reduce).sum()
}
