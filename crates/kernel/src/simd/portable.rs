//! The portable tier: safe Rust the compiler vectorizes for the target's
//! baseline (SSE2 on x86-64, NEON on aarch64). No `unsafe`, so Miri can run
//! it. Each pair keeps an `[f32; 8]` accumulator (two SSE registers), with a
//! separate multiply and add: `f32::mul_add` would be a libm call without
//! hardware FMA.

use super::{Impl, batch_ok, rows_ok, store_tile};
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
/// Queries x rows per register tile in the batch scan: 4 accumulators = 8
/// SSE registers, plus 8 for the operands.
const BATCH_Q: usize = 2;
const BATCH_R: usize = 2;

/// The fixed pairwise summation tree every path uses.
#[inline(always)]
fn reduce(a: &[f32; L]) -> f32 {
    ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]))
}

/// `v[..dim]` as whole chunks of `L` plus the last partial chunk,
/// zero-padded (all zero when `dim` is a multiple of `L`).
#[inline(always)]
fn split(v: &[f32], dim: usize) -> (&[[f32; L]], [f32; L]) {
    let (full, rest) = v[..dim].as_chunks::<L>();
    let mut tail = [0.0; L];
    tail[..rest.len()].copy_from_slice(rest);
    (full, tail)
}

#[inline(always)]
fn madd(acc: &mut [f32; L], a: &[f32; L], b: &[f32; L]) {
    for j in 0..L {
        acc[j] += a[j] * b[j];
    }
}

/// The one way this tier computes a pair's score: every chunk in order into
/// one 8-lane accumulator (separate multiply and add), then the tail chunk
/// (zero-padded; a no-op when `dim` is a multiple of 8), then [`reduce`].
#[inline(always)]
fn pair(a: &[f32], b: &[f32], dim: usize) -> f32 {
    let (af, at) = split(a, dim);
    let (bf, bt) = split(b, dim);
    let mut acc = [0.0f32; L];
    for (x, y) in af.iter().zip(bf) {
        madd(&mut acc, x, y);
    }
    madd(&mut acc, &at, &bt);
    reduce(&acc)
}

/// Scores of 2 queries x 2 rows, the same arithmetic as [`pair`] for each,
/// with four chains in flight.
#[inline(always)]
fn tile2x2(q: [&[f32]; 2], r: [&[f32]; 2], dim: usize) -> [[f32; 2]; 2] {
    let (q0, q0t) = split(q[0], dim);
    let (q1, q1t) = split(q[1], dim);
    let (r0, r0t) = split(r[0], dim);
    let (r1, r1t) = split(r[1], dim);
    let mut a = [[[0.0f32; L]; 2]; 2];
    for (((x0, x1), y0), y1) in q0.iter().zip(q1).zip(r0).zip(r1) {
        madd(&mut a[0][0], x0, y0);
        madd(&mut a[0][1], x0, y1);
        madd(&mut a[1][0], x1, y0);
        madd(&mut a[1][1], x1, y1);
    }
    madd(&mut a[0][0], &q0t, &r0t);
    madd(&mut a[0][1], &q0t, &r1t);
    madd(&mut a[1][0], &q1t, &r0t);
    madd(&mut a[1][1], &q1t, &r1t);
    a.map(|row| row.map(|acc| reduce(&acc)))
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "kernel bug: dot of unequal lengths");
    pair(a, b, a.len())
}

fn row(matrix: &[f32], dim: usize, r: usize) -> &[f32] {
    &matrix[r * dim..(r + 1) * dim]
}

fn score_rows(query: &[f32], matrix: &[f32], dim: usize, rows: &[usize], out: &mut [f32]) {
    assert!(
        rows_ok(query, matrix, dim, rows, out),
        "kernel bug: bad score_rows shape"
    );
    // Row after row: one sequential stream for the prefetcher; the
    // out-of-order core overlaps the independent chains of adjacent rows.
    for (&r, o) in rows.iter().zip(out.iter_mut()) {
        *o = pair(query, row(matrix, dim, r), dim);
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
        // A short last tile repeats its last query/row; extras are dropped.
        let qs: [&[f32]; BATCH_Q] =
            std::array::from_fn(|i| row(queries, dim, (q0 + i).min(nq - 1)));
        for (t, ids) in rows.chunks(BATCH_R).enumerate() {
            let last = ids[ids.len() - 1];
            let rs: [&[f32]; BATCH_R] =
                std::array::from_fn(|i| row(matrix, dim, *ids.get(i).unwrap_or(&last)));
            let s = tile2x2(qs, rs, dim);
            for (i, srow) in s.iter().enumerate().take(nq - q0) {
                let base = (q0 + i) * m + t * BATCH_R;
                store_tile(out, base, srow, ids.len());
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
