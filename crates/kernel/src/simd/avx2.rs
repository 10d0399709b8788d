//! The AVX2 + FMA tier (x86-64 Haswell / Zen and later).
//!
//! Each pair keeps one 8-lane `__m256` accumulator fed by `vfmadd231ps`;
//! the last partial chunk uses `vmaskmovps` (masked-out lanes read as zero
//! and never fault). Lanes are summed with the `hadd` tree of [`reduce4`].
//!
//! Register budget (16 ymm): the batch tile is 4 queries x 3 rows = 12
//! accumulators + 3 row vectors + 1 query vector. Per chunk of 8 components
//! it issues 12 FMAs for 7 loads, which keeps both FMA pipes busy without
//! saturating the load ports. A remainder of 3, 2 or 1 queries runs a
//! 3 x 4, 2 x 6 or 1 x 8 tile instead of padding the 4-query tile with
//! copies (which did up to 4x the arithmetic). Every shape keeps the
//! vectors of its shorter side in registers and streams the other, so it
//! needs `Q * R + min(Q, R) + 1` registers (16, 16, 15, 10); keeping the
//! rows of the 2 x 6 and 1 x 12 tiles spilled accumulators to the stack
//! around the FMAs, and 1 x 12 also ran out of general registers for its
//! row pointers (`scripts/check-registers.sh` shows it). Around it, L1-sized row
//! panels (copied to 64-byte aligned slots if the rows are misaligned and
//! there are 16+ queries) meet every query tile in turn, and the next panel
//! is prefetched into L2.
//!
//! Measured and rejected (in-cache, 64 queries x 84 rows): larger panels
//! (32-48 KiB: the query tile streaming through L1 evicts them) and a T0
//! prefetch of the next query tile (it evicted panel rows: 5-20% slower).
//!
//! The single-query scan is bound by memory: it walks rows in address
//! order, one FMA chain per row, 8 rows per call into the tile function.

use std::arch::x86_64::*;

use super::{Impl, batch_ok, next_panel_row, rows_ok, store_tile};
use crate::Tier;

static IMPL: Impl = Impl {
    tier: Tier::Avx2,
    dot,
    score_rows,
    score_rows_batch,
    sum,
    fma_probe,
    fma_flops_per_iter: (PROBE_ACCS * 8 * 2) as u64,
};

/// The AVX2 implementation, if this CPU has AVX2 and FMA. This check is the
/// only way to reach the functions below, which is what makes their
/// `unsafe` blocks sound.
pub(crate) fn get() -> Option<&'static Impl> {
    if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
        Some(&IMPL)
    } else {
        None
    }
}

const L: usize = 8;
const SINGLE_ROWS: usize = 8;
const BATCH_Q: usize = 4;
const BATCH_R: usize = 3;
/// L1 budget for a row panel plus one query tile (L1D is 32 KiB on Zen 3
/// and most Intel cores, 48 KiB on newer ones).
const PANEL_BYTES: usize = 24 * 1024;
/// Queries from which copying misaligned row panels pays (see
/// `score_rows_batch_imp`).
const PACK_MIN_QUERIES: usize = 16;

/// `MASKS[8 - r..][..8]` selects the first `r` lanes.
static MASKS: [i32; 16] = [-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0];

/// Sums of the lanes of `a`, `b`, `c`, `d`, as lanes 0..4. Per input vector
/// the tree is `((x0+x1)+(x2+x3)) + ((x4+x5)+(x6+x7))` whatever the other
/// inputs are, so every path that reduces a pair's accumulator with this
/// function gets the same bits.
#[inline]
#[target_feature(enable = "avx2,fma")]
pub(super) fn reduce4(a: __m256, b: __m256, c: __m256, d: __m256) -> __m128 {
    let ab = _mm256_hadd_ps(a, b);
    let cd = _mm256_hadd_ps(c, d);
    let abcd = _mm256_hadd_ps(ab, cd);
    _mm_add_ps(
        _mm256_castps256_ps128(abcd),
        _mm256_extractf128_ps::<1>(abcd),
    )
}

/// Dot products of one query with `R` rows, one row after the other.
///
/// Each row's loop is one FMA dependency chain, and consecutive rows are
/// independent chains that the out-of-order core overlaps. Walking the rows
/// in address order keeps the access pattern one sequential stream, which
/// the hardware prefetcher follows at full bandwidth; interleaving rows (the
/// obvious register tile) makes that many streams and measured 20-35%
/// slower for 2 to 8 rows. (Software prefetching 2-8 KiB ahead measured no
/// better than the hardware prefetcher alone, and worse on two threads.)
///
/// # Safety
/// The CPU has AVX2 and FMA; `q` and every `rows[i]` point to at least
/// `dim` readable floats.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn tile_single<const R: usize>(
    q: *const f32,
    rows: [*const f32; R],
    dim: usize,
) -> [f32; R] {
    let mut acc = [_mm256_setzero_ps(); R];
    let full = dim / L * L;
    let tail = (full < dim).then(|| {
        // SAFETY: MASKS has 16 entries and 8 - (dim - full) is in 1..=7, so
        // the 8 loaded entries are in bounds.
        unsafe { _mm256_loadu_si256(MASKS.as_ptr().add(L - (dim - full)).cast()) }
    });
    for (a, &row) in acc.iter_mut().zip(&rows) {
        let mut at = 0;
        // Two chunks (one cache line) per iteration: fewer loop uops per
        // byte lets the out-of-order window reach further ahead.
        while at + 2 * L <= full {
            // SAFETY: at + 16 <= dim, and both pointers have dim readable floats.
            unsafe {
                *a = _mm256_fmadd_ps(_mm256_loadu_ps(q.add(at)), _mm256_loadu_ps(row.add(at)), *a);
                *a = _mm256_fmadd_ps(
                    _mm256_loadu_ps(q.add(at + L)),
                    _mm256_loadu_ps(row.add(at + L)),
                    *a,
                );
            }
            at += 2 * L;
        }
        if at < full {
            // SAFETY: at + 8 <= full <= dim.
            unsafe {
                *a = _mm256_fmadd_ps(_mm256_loadu_ps(q.add(at)), _mm256_loadu_ps(row.add(at)), *a);
            }
        }
        if let Some(mask) = tail {
            // SAFETY: the masked loads touch only the dim - full floats left
            // in each vector (at offsets full..dim).
            unsafe {
                let qv = _mm256_maskload_ps(q.add(full), mask);
                *a = _mm256_fmadd_ps(qv, _mm256_maskload_ps(row.add(full), mask), *a);
            }
        }
    }
    let mut out = [0.0f32; R];
    let z = _mm256_setzero_ps();
    for (i, o) in out.chunks_mut(4).enumerate() {
        let g = |j: usize| if i * 4 + j < R { acc[i * 4 + j] } else { z };
        let s = reduce4(g(0), g(1), g(2), g(3));
        let mut lanes = [0.0f32; 4];
        // SAFETY: `lanes` is 4 floats, the size of an unaligned __m128 store.
        unsafe { _mm_storeu_ps(lanes.as_mut_ptr(), s) };
        o.copy_from_slice(&lanes[..o.len()]);
    }
    out
}

/// Dot products of `Q` queries with `R` rows, as `[query][row]`. With
/// `PF`, also prefetches the row at `pf` into L2, one cache line every 16
/// floats: the caller points it at a row of the next panel, whose first
/// touch would otherwise stall on memory.
///
/// # Safety
/// The CPU has AVX2 and FMA; every pointer (`qs`, `rows`, `pf`) has at
/// least `dim` readable floats.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn tile_batch<const Q: usize, const R: usize, const PF: bool>(
    qs: [*const f32; Q],
    rows: [*const f32; R],
    pf: *const f32,
    dim: usize,
) -> [[f32; R]; Q] {
    let mut acc = [[_mm256_setzero_ps(); R]; Q];
    let full = dim / L * L;
    let mut at = 0;
    // One step: one chunk of 8 components for all Q x R pairs.
    let step = |acc: &mut [[__m256; R]; Q], at: usize| {
        // SAFETY: at + 8 <= dim, and every pointer has dim readable floats.
        unsafe {
            // Keep the vectors of the shorter side in registers and stream
            // the other: Q * R + min(Q, R) + 1 registers.
            if Q <= R {
                let qv = qs.map(|q| _mm256_loadu_ps(q.add(at)));
                for r in 0..R {
                    let rv = _mm256_loadu_ps(rows[r].add(at));
                    for q in 0..Q {
                        acc[q][r] = _mm256_fmadd_ps(qv[q], rv, acc[q][r]);
                    }
                }
            } else {
                let rv = rows.map(|r| _mm256_loadu_ps(r.add(at)));
                for q in 0..Q {
                    let qv = _mm256_loadu_ps(qs[q].add(at));
                    for r in 0..R {
                        acc[q][r] = _mm256_fmadd_ps(qv, rv[r], acc[q][r]);
                    }
                }
            }
        }
    };
    // Two steps (one cache line) per iteration: fewer loop and address
    // uops per FMA.
    while at + 2 * L <= full {
        if PF {
            // SAFETY: at + 16 <= dim floats are readable at pf; a prefetch
            // never faults.
            unsafe { _mm_prefetch::<_MM_HINT_T1>(pf.add(at).cast()) };
        }
        step(&mut acc, at);
        step(&mut acc, at + L);
        at += 2 * L;
    }
    if at < full {
        step(&mut acc, at);
    }
    if full < dim {
        // SAFETY: as in `tile_single`.
        unsafe {
            let mask = _mm256_loadu_si256(MASKS.as_ptr().add(L - (dim - full)).cast());
            let rv = rows.map(|r| _mm256_maskload_ps(r.add(full), mask));
            for q in 0..Q {
                let qv = _mm256_maskload_ps(qs[q].add(full), mask);
                for r in 0..R {
                    acc[q][r] = _mm256_fmadd_ps(qv, rv[r], acc[q][r]);
                }
            }
        }
    }
    // Reduce the Q x R accumulators four at a time in [query][row] order:
    // ceil(Q * R / 4) trees whatever the shape (3 for every 12-pair tile).
    let mut out = [[0.0f32; R]; Q];
    let z = _mm256_setzero_ps();
    let pairs = Q * R;
    let mut k0 = 0;
    while k0 < pairs {
        let g = |j: usize| {
            let k = k0 + j;
            if k < pairs { acc[k / R][k % R] } else { z }
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
    // SAFETY: `get` handed out IMPL only after detecting AVX2 and FMA; both
    // slices have a.len() floats.
    unsafe { tile_single::<1>(a.as_ptr(), [b.as_ptr()], a.len())[0] }
}

/// # Safety
/// The CPU has AVX2 and FMA, and `rows_ok` holds.
#[target_feature(enable = "avx2,fma")]
unsafe fn score_rows_imp(
    query: &[f32],
    matrix: &[f32],
    dim: usize,
    rows: &[usize],
    out: &mut [f32],
) {
    let base = matrix.as_ptr();
    for (ids, outs) in rows.chunks(SINGLE_ROWS).zip(out.chunks_mut(SINGLE_ROWS)) {
        // A short last tile repeats its last row; the extra scores are dropped.
        let last = ids[ids.len() - 1];
        // SAFETY: rows_ok checked every index < matrix.len() / dim, so each
        // row pointer has dim floats inside `matrix`.
        let rs: [*const f32; SINGLE_ROWS] =
            std::array::from_fn(|i| unsafe { base.add(ids.get(i).unwrap_or(&last) * dim) });
        // SAFETY: AVX2+FMA per the caller; query has dim floats (rows_ok).
        let s = unsafe { tile_single::<SINGLE_ROWS>(query.as_ptr(), rs, dim) };
        store_tile(outs, 0, &s, outs.len());
    }
}

fn score_rows(query: &[f32], matrix: &[f32], dim: usize, rows: &[usize], out: &mut [f32]) {
    assert!(
        rows_ok(query, matrix, dim, rows, out),
        "kernel bug: bad score_rows shape"
    );
    // SAFETY: only reachable through IMPL (see `get`), so the CPU has
    // AVX2+FMA; the shape was just checked.
    unsafe { score_rows_imp(query, matrix, dim, rows, out) }
}

/// Rows of an L1 panel with rows `stride` floats apart (at least one tile
/// of every shape below, at most 1020 rows).
fn panel_rows(stride: usize) -> usize {
    (PANEL_BYTES / (stride * 4))
        .saturating_sub(BATCH_Q)
        .clamp(BATCH_R, 1020)
        / BATCH_R
        * BATCH_R
}

/// Where one panel's scores and prefetches go (see [`panel_tiles`]).
struct PanelJob<'a> {
    /// The panel's rows: `ids[i]` of the matrix if `ids` is set, else the
    /// copies at `base + i * stride`; `len` of them.
    ids: Option<&'a [usize]>,
    base: *const f32,
    stride: usize,
    len: usize,
    /// First column of this panel in the score block.
    col: usize,
    /// Score block: `out[q * m + col + i]`.
    out: &'a mut [f32],
    m: usize,
    /// Prefetch state: all rows of the block, where the next panel starts,
    /// its length, and the matrix (`n` rows of `dim`).
    rows: &'a [usize],
    next_start: usize,
    panel: usize,
    matrix: *const f32,
    n: usize,
    dim: usize,
    /// Register tiles run so far on this panel (across query tiles).
    tiles_done: usize,
}

/// Runs the `Q x R` register tile over every row of one panel for the `Q`
/// queries starting at query `q0` (pointers in `qs`).
///
/// # Safety
/// The CPU has AVX2 and FMA; every `qs` pointer has `dim` readable floats;
/// `job.len >= 1`; `job.matrix` holds `job.n` rows of `dim`; and either
/// `job.ids` has `len` indices `< n`, or `job.base + i * job.stride` has
/// `dim` readable floats for `i < job.len`.
#[inline]
#[target_feature(enable = "avx2,fma")]
unsafe fn panel_tiles<const Q: usize, const R: usize>(
    qs: [*const f32; Q],
    q0: usize,
    job: &mut PanelJob<'_>,
) {
    let len = job.len;
    let dim = job.dim;
    for t in 0..len.div_ceil(R) {
        // A short last tile repeats the panel's last row; extras are dropped.
        // SAFETY: min(t * R + i, len - 1) < len, so the row is in the
        // matrix or in the panel's copies (see the contract).
        let rs: [*const f32; R] = std::array::from_fn(|i| {
            let i = (t * R + i).min(len - 1);
            unsafe {
                match job.ids {
                    Some(ids) => job.matrix.add(ids[i] * dim),
                    None => job.base.add(i * job.stride),
                }
            }
        });
        // Early tiles prefetch the next panel's rows, one row per tile, so
        // their first touch finds them in L2.
        let pf = next_panel_row(job.rows, job.next_start, job.panel, job.tiles_done, job.n);
        job.tiles_done += 1;
        // SAFETY: AVX2+FMA and readable pointers per the contract; pf < n.
        let s = unsafe {
            match pf {
                Some(r) => tile_batch::<Q, R, true>(qs, rs, job.matrix.add(r * dim), dim),
                None => tile_batch::<Q, R, false>(qs, rs, job.matrix, dim),
            }
        };
        let cnt = R.min(len - t * R);
        for (q, srow) in s.iter().enumerate() {
            store_tile(job.out, (q0 + q) * job.m + job.col + t * R, srow, cnt);
        }
    }
}

/// # Safety
/// The CPU has AVX2 and FMA, and `batch_ok` holds.
#[target_feature(enable = "avx2,fma")]
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
    // Loop order (GEMM-style blocking): a panel of rows small enough to
    // stay in L1 next to one query tile, then every query tile over that
    // panel, then the register tiles. Each query tile is fetched from L2
    // once per panel, and each row once per block; streaming the rows from
    // L2 for every query tile instead needed twice the L2 bandwidth.
    //
    // Rows that are not on 32-byte boundaries are first copied to 64-byte
    // aligned slots: a matrix from the allocator (or a file mapping after a
    // header) is usually 16 bytes off, so half the 32-byte loads split a
    // cache line, which cost about 8% of the tile's time in cache. The copy
    // is one pass over rows then read once per query tile, so it pays only
    // with many queries (with 4 it halved the throughput).
    let misaligned = !dim.is_multiple_of(L) || matrix.as_ptr().align_offset(32) != 0;
    let pack = misaligned && nq >= PACK_MIN_QUERIES;
    let stride = if pack { dim.next_multiple_of(16) } else { dim };
    let panel = panel_rows(stride);
    let mut scratch = if pack {
        vec![0.0f32; panel.min(m) * stride + 16]
    } else {
        Vec::new()
    };
    let skip = match scratch.as_ptr().align_offset(64) {
        s if s < 16 => s,
        _ => 0,
    };
    let qp = queries.as_ptr();
    for (p, panel_ids) in rows.chunks(panel).enumerate() {
        let (ids, base) = if pack {
            let slots = &mut scratch[skip..];
            for (i, &r) in panel_ids.iter().enumerate() {
                slots[i * stride..i * stride + dim].copy_from_slice(&matrix[r * dim..][..dim]);
            }
            (None, slots.as_ptr())
        } else {
            (Some(panel_ids), std::ptr::null())
        };
        let mut job = PanelJob {
            ids,
            base,
            stride,
            len: panel_ids.len(),
            col: p * panel,
            out: &mut *out,
            m,
            rows,
            next_start: (p + 1) * panel,
            panel,
            matrix: matrix.as_ptr(),
            n,
            dim,
            tiles_done: 0,
        };
        for q0 in (0..nq).step_by(BATCH_Q) {
            // SAFETY (all arms): q0 + q < nq, so each query pointer has dim
            // floats; the panel is `len >= 1` rows checked by batch_ok or
            // copied to `stride`-apart slots; AVX2+FMA per the caller.
            let at = |q: usize| unsafe { qp.add((q0 + q) * dim) };
            unsafe {
                match nq - q0 {
                    1 => panel_tiles::<1, 8>([at(0)], q0, &mut job),
                    2 => panel_tiles::<2, 6>(std::array::from_fn(at), q0, &mut job),
                    3 => panel_tiles::<3, 4>(std::array::from_fn(at), q0, &mut job),
                    _ => panel_tiles::<BATCH_Q, BATCH_R>(std::array::from_fn(at), q0, &mut job),
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
/// The CPU has AVX2.
#[target_feature(enable = "avx2,fma")]
unsafe fn sum_imp(data: &[f32]) -> f32 {
    const U: usize = 4;
    let mut acc = [_mm256_setzero_ps(); U];
    let chunks = data.chunks_exact(U * L);
    let rest = chunks.remainder();
    for c in chunks {
        for (u, a) in acc.iter_mut().enumerate() {
            // SAFETY: c has U * 8 floats, so c[u * 8..u * 8 + 8] is in bounds.
            *a = _mm256_add_ps(*a, unsafe { _mm256_loadu_ps(c.as_ptr().add(u * L)) });
        }
    }
    let s = reduce4(acc[0], acc[1], acc[2], acc[3]);
    let mut lanes = [0.0f32; 4];
    // SAFETY: `lanes` is 4 floats.
    unsafe { _mm_storeu_ps(lanes.as_mut_ptr(), s) };
    lanes.iter().sum::<f32>() + rest.iter().sum::<f32>()
}

fn sum(data: &[f32]) -> f32 {
    // SAFETY: only reachable through IMPL (see `get`).
    unsafe { sum_imp(data) }
}

/// Independent FMA chains: 2 pipes x 4-5 cycles latency on Zen/Haswell
/// needs at least 10 in flight.
const PROBE_ACCS: usize = 12;

/// # Safety
/// The CPU has AVX2 and FMA.
#[target_feature(enable = "avx2,fma")]
unsafe fn fma_probe_imp(iters: u64) -> f32 {
    let m = _mm256_set1_ps(std::hint::black_box(0.999_999_9f32));
    let a = _mm256_set1_ps(std::hint::black_box(1e-7f32));
    let mut acc: [__m256; PROBE_ACCS] = std::array::from_fn(|i| _mm256_set1_ps(i as f32));
    for _ in 0..iters {
        for v in acc.iter_mut() {
            *v = _mm256_fmadd_ps(*v, m, a);
        }
    }
    let mut total = _mm256_setzero_ps();
    for v in acc {
        total = _mm256_add_ps(total, v);
    }
    let z = _mm256_setzero_ps();
    _mm_cvtss_f32(reduce4(total, z, z, z))
}

fn fma_probe(iters: u64) -> f32 {
    // SAFETY: only reachable through IMPL (see `get`).
    unsafe { fma_probe_imp(iters) }
}
