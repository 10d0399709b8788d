//! The AVX-512F tier (x86-64 Skylake-X, Zen 4 and later).
//!
//! The structure of the AVX2 tier with 16-lane `__m512` accumulators and 32
//! registers. The last partial chunk is a zero-masked load (`__mmask16`). A
//! pair's 16 lanes are folded to 8 (low half + high half) and then summed
//! with the AVX2 `reduce4` tree, so the reduction is the same code in every
//! path of this tier.
//!
//! The batch tile is 4 queries x 6 rows: per chunk of 16 components the 4
//! query vectors are loaded and kept, then each row vector is loaded and
//! feeds 4 FMAs, so 24 accumulators + 4 query vectors + 1 row vector = 29 of
//! the 32 registers, and 10 pointers in general registers. (The first
//! version kept the 6 row vectors instead: 31 registers, and LLVM spilled
//! the accumulators around every FMA, which held the batch to 30% of the
//! FMA peak.) A remainder of 3, 2 or 1 queries runs a 3 x 6, 2 x 8 or 1 x 8
//! tile (18, 16 or 8 chains, enough to cover 2 pipes x 4 cycles of FMA
//! latency) instead of a padded 4-query one; 1 x 12 ran out of general
//! registers for its row pointers. `scripts/check-registers.sh` checks that
//! none of these loops touches the stack.
//!
//! Wide vectors are blocked by dimension: the components are cut into
//! blocks of at most [`DIM_BLOCK`] floats (whole chunks), and every query
//! tile meets a panel's slice of one block while it is in L1; unfinished
//! accumulators wait in a buffer between blocks. A pair still has one
//! accumulator fed chunk by chunk in ascending order and one reduction at
//! the end, so blocking changes no bit of any score.
//!
//! The tests run this tier wherever the CPU has AVX-512F and say so when
//! they skip it.

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
/// L1 budget for a row panel (one dimension block of it) plus one query
/// tile.
const PANEL_BYTES: usize = 24 * 1024;
/// Widest dimension block of the batch scan, in floats (see [`dim_blocks`]):
/// 6 KiB of each row. Measured on Zen 5 (48 KiB L1, 1 MiB L2), 64 queries,
/// in cache: blocks of 768 and no blocking both held 56-59% of FMA peak at
/// d = 1536 and 3072, while blocks of 384 or 512 lost 3-8 points to the
/// carried accumulators (a load and a store of each per block). On Zen 4
/// (32 KiB L1, 1 MiB L2), 64 clustered queries from memory, alternating
/// builds in one sitting: at d = 1536, blocks of 512 ran 201-216 q/s, 768
/// 218-229 and 1536 (no blocking) 256-260; at d = 3072, 768 ran 195-220,
/// 1536 228-250 and 3072 229-240. So blocks of 1536: no blocking up to
/// d = 1536, two blocks at 3072.
const DIM_BLOCK: usize = 1536;

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

/// Feeds components `from..to` of `Q` queries and `R` rows into the
/// `Q x R` accumulators, one FMA per pair and chunk of 16, in ascending
/// order. `from` is a multiple of 16; a partial last chunk (only where `to`
/// is the end of the vectors) is a zero-masked load. With `PF`, also
/// prefetches the same components of the row at `pf` (in the next panel)
/// into L2, one cache line per chunk.
///
/// Register budget (32 zmm): the `Q` query vectors of a chunk are loaded
/// once and kept, then each row vector is loaded and feeds `Q` FMAs, so a
/// chunk needs `Q * R + Q + 1` registers (29 for the 4 x 6 tile). The old
/// order (all `R` row vectors kept, one query at a time) needed 31 and
/// LLVM spilled the accumulators to the stack around every FMA.
///
/// # Safety
/// The CPU has AVX-512F, AVX2 and FMA; every pointer (`qs`, `rows`, `pf`)
/// has at least `to` readable floats.
#[inline]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn accumulate<const Q: usize, const R: usize, const PF: bool>(
    acc: &mut [[__m512; R]; Q],
    qs: [*const f32; Q],
    rows: [*const f32; R],
    pf: *const f32,
    from: usize,
    to: usize,
) {
    let full = from + (to - from) / L * L;
    let mut at = from;
    while at < full {
        // SAFETY: at + 16 <= to, and every pointer has `to` readable
        // floats; a prefetch never faults.
        unsafe {
            if PF {
                _mm_prefetch::<_MM_HINT_T1>(pf.add(at).cast());
            }
            let qv = qs.map(|q| _mm512_loadu_ps(q.add(at)));
            for r in 0..R {
                let rv = _mm512_loadu_ps(rows[r].add(at));
                for q in 0..Q {
                    acc[q][r] = _mm512_fmadd_ps(qv[q], rv, acc[q][r]);
                }
            }
        }
        at += L;
    }
    if full < to {
        let mask = tail_mask(to - full);
        // SAFETY: the zero-masked loads read only the to - full floats left
        // in each vector; masked lanes never fault.
        unsafe {
            let qv = qs.map(|q| _mm512_maskz_loadu_ps(mask, q.add(full)));
            for r in 0..R {
                let rv = _mm512_maskz_loadu_ps(mask, rows[r].add(full));
                for q in 0..Q {
                    acc[q][r] = _mm512_fmadd_ps(qv[q], rv, acc[q][r]);
                }
            }
        }
    }
}

/// The scores of a `Q x R` tile of accumulators, as `[query][row]`: each
/// pair folded to 8 lanes and summed by [`reduce4`], four pairs per tree
/// (the tree of one pair does not depend on the other three), exactly as
/// `tile_single` reduces.
#[inline]
#[target_feature(enable = "avx512f,avx2,fma")]
fn reduce_tile<const Q: usize, const R: usize>(acc: &[[__m512; R]; Q]) -> [[f32; R]; Q] {
    let mut out = [[0.0f32; R]; Q];
    let z = _mm256_setzero_ps();
    let pairs = Q * R;
    let mut k0 = 0;
    while k0 < pairs {
        let g = |j: usize| {
            let k = k0 + j;
            if k < pairs {
                fold(acc[k / R][k % R])
            } else {
                z
            }
        };
        let s = reduce4(g(0), g(1), g(2), g(3));
        let mut lanes = [0.0f32; 4];
        // SAFETY: `lanes` is 4 floats, the size of an unaligned __m128 store.
        unsafe { _mm_storeu_ps(lanes.as_mut_ptr(), s) };
        for (j, &v) in lanes.iter().enumerate().take(pairs - k0) {
            out[(k0 + j) / R][(k0 + j) % R] = v;
        }
        k0 += 4;
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

/// The dimension blocks of the batch scan: `(width, count)`, every block
/// `width` floats (a multiple of 16) but the last, which ends at `dim`.
/// Blocks are as even as possible and at most [`DIM_BLOCK`] wide, so an
/// L1 panel holds [`PANEL_BYTES`] worth of rows whatever the dimension.
fn dim_blocks(dim: usize) -> (usize, usize) {
    let count = dim.div_ceil(DIM_BLOCK);
    let width = dim.div_ceil(count).next_multiple_of(L);
    (width, dim.div_ceil(width))
}

/// Rows of an L1 panel of `width`-float row slices (at least one tile of
/// the widest shape, at most 1020 rows).
fn panel_rows(width: usize) -> usize {
    (PANEL_BYTES / (width * 4))
        .saturating_sub(BATCH_Q)
        .clamp(BATCH_R, 1020)
        / BATCH_R
        * BATCH_R
}

/// One panel and one dimension block of the batch scan: where the rows
/// are, which components to feed, where the scores (or the unfinished
/// accumulators) go, and what to prefetch.
struct PanelJob<'a> {
    /// The panel's rows (indices into `matrix`, at least one).
    ids: &'a [usize],
    matrix: *const f32,
    n: usize,
    dim: usize,
    /// Components `from..to` of this dimension block.
    from: usize,
    to: usize,
    /// First block (accumulators start at zero) / last block (reduce and
    /// write scores); otherwise the accumulators go through `carry`.
    first: bool,
    last: bool,
    /// Unfinished accumulators between dimension blocks: pair (query `q`,
    /// panel row `i`) at `carry[q * ids.len() + i]`. Empty with one block.
    carry: &'a mut [__m512],
    /// First column of this panel in the score block.
    col: usize,
    /// Score block: `out[q * m + col + i]`.
    out: &'a mut [f32],
    m: usize,
    /// Prefetch state: all rows of the block, where the next panel starts,
    /// the panel length.
    rows: &'a [usize],
    next_start: usize,
    panel: usize,
    /// Register tiles run so far in this panel and dimension block.
    tiles_done: usize,
}

/// Runs the `Q x R` register tile over every row of one panel and one
/// dimension block, for the `Q` queries from query `q0` (pointers in
/// `qs`).
///
/// # Safety
/// The CPU has AVX-512F, AVX2 and FMA; every `qs` pointer has `dim`
/// readable floats; `job.matrix` holds `job.n` rows of `job.dim`, every
/// `job.ids` index is `< n`; `job.carry` has a slot for every pair of the
/// panel unless the job is both first and last.
#[inline]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn panel_tiles<const Q: usize, const R: usize>(
    qs: [*const f32; Q],
    q0: usize,
    job: &mut PanelJob<'_>,
) {
    let len = job.ids.len();
    let dim = job.dim;
    for t in 0..len.div_ceil(R) {
        // A short last tile repeats the panel's last row; extras are dropped.
        let slot = |i: usize| (t * R + i).min(len - 1);
        // SAFETY: every id is < n (the contract), so each row has dim floats.
        let rs: [*const f32; R] =
            std::array::from_fn(|i| unsafe { job.matrix.add(job.ids[slot(i)] * dim) });
        let mut acc = [[_mm512_setzero_ps(); R]; Q];
        if !job.first {
            for (q, accs) in acc.iter_mut().enumerate() {
                for (i, a) in accs.iter_mut().enumerate() {
                    *a = job.carry[(q0 + q) * len + slot(i)];
                }
            }
        }
        // Early tiles prefetch the next panel's rows (this block's part of
        // them), one row per tile, so their first touch finds them in L2.
        let pf = next_panel_row(job.rows, job.next_start, job.panel, job.tiles_done, job.n);
        job.tiles_done += 1;
        // SAFETY: CPU features and readable pointers per the contract; pf < n.
        unsafe {
            match pf {
                Some(r) => accumulate::<Q, R, true>(
                    &mut acc,
                    qs,
                    rs,
                    job.matrix.add(r * dim),
                    job.from,
                    job.to,
                ),
                None => accumulate::<Q, R, false>(&mut acc, qs, rs, job.matrix, job.from, job.to),
            }
        }
        let cnt = R.min(len - t * R);
        if job.last {
            let s = reduce_tile(&acc);
            for (q, srow) in s.iter().enumerate() {
                store_tile(job.out, (q0 + q) * job.m + job.col + t * R, srow, cnt);
            }
        } else {
            for (q, accs) in acc.iter().enumerate() {
                let at = (q0 + q) * len + t * R;
                // A fixed-size copy for whole tiles: plain moves, where a
                // variable-length copy is a `memcpy` call (see `store_tile`).
                if cnt == R {
                    job.carry[at..at + R].copy_from_slice(accs);
                } else {
                    for (c, a) in job.carry[at..at + cnt].iter_mut().zip(accs) {
                        *c = *a;
                    }
                }
            }
        }
    }
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
    let n = matrix.len() / dim;
    // Loop order (GEMM-style blocking, as BLAS does it): a panel of rows,
    // then a block of at most DIM_BLOCK components, then every query tile
    // over that panel slice (which stays in L1), then the register tiles.
    // Wide vectors (d = 1536: 6 KiB a row) no longer push the panel out of
    // L1; the price is a load and a store of each accumulator per block,
    // and the pair's arithmetic is unchanged: the same accumulator, the
    // same chunks in the same order, one reduction at the end.
    let (width, blocks) = dim_blocks(dim);
    let panel = panel_rows(width);
    let mut carry = if blocks > 1 {
        vec![_mm512_setzero_ps(); nq * panel.min(m)]
    } else {
        Vec::new()
    };
    let qp = queries.as_ptr();
    for (p, ids) in rows.chunks(panel).enumerate() {
        for b in 0..blocks {
            let mut job = PanelJob {
                ids,
                matrix: matrix.as_ptr(),
                n,
                dim,
                from: b * width,
                to: ((b + 1) * width).min(dim),
                first: b == 0,
                last: b + 1 == blocks,
                carry: &mut carry,
                col: p * panel,
                out: &mut *out,
                m,
                rows,
                next_start: (p + 1) * panel,
                panel,
                tiles_done: 0,
            };
            for q0 in (0..nq).step_by(BATCH_Q) {
                // SAFETY (all arms): q0 + q < nq, so each query pointer has
                // dim floats; batch_ok checked the row indices; the carry
                // has nq * ids.len() slots when there are several blocks;
                // the CPU features per the caller.
                let at = |q: usize| unsafe { qp.add((q0 + q) * dim) };
                unsafe {
                    match nq - q0 {
                        1 => panel_tiles::<1, 8>([at(0)], q0, &mut job),
                        2 => panel_tiles::<2, 8>(std::array::from_fn(at), q0, &mut job),
                        3 => panel_tiles::<3, 6>(std::array::from_fn(at), q0, &mut job),
                        _ => panel_tiles::<BATCH_Q, BATCH_R>(std::array::from_fn(at), q0, &mut job),
                    }
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

#[cfg(test)]
mod tests {
    use super::{DIM_BLOCK, L, dim_blocks, panel_rows};

    #[test]
    fn dim_blocks_tile_the_vector_in_whole_chunks() {
        for dim in 1..5000 {
            let (width, count) = dim_blocks(dim);
            assert!(width % L == 0 && width <= DIM_BLOCK, "d={dim}");
            // Every block but the last is whole and the last is not empty.
            assert!((count - 1) * width < dim && dim <= count * width, "d={dim}");
            assert_eq!(
                count,
                dim.div_ceil(DIM_BLOCK),
                "d={dim}: as few blocks as fit"
            );
            assert!(panel_rows(width) >= 1);
        }
    }
}
