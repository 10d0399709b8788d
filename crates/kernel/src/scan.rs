//! The scans: argument checks, splitting rows across threads, feeding row
//! blocks to a tier's primitives and the scores to [`TopK`].

use std::ops::Range;

use crate::filter::for_each_block;
use crate::select::{TopK, merge};
use crate::simd::Impl;
use crate::{Hit, KernelError, ScanOptions};

/// Rows per block in the single-query scan: small enough that the scores
/// stay in L1, large enough to amortize the call into the tier.
const SINGLE_BLOCK: usize = 256;

/// Bytes of matrix rows per block in the batch scan. The block is re-read
/// once per query tile, so it must stay in L2 (512 KiB on Zen 3, 1-2 MiB on
/// recent Intel) next to the queries.
const BATCH_BLOCK_BYTES: usize = 128 * 1024;

/// Queries scored per kernel call in the batch scan, which bounds the score
/// buffer at `BATCH_QUERIES x rows per block`.
const BATCH_QUERIES: usize = 64;

/// Multiply-adds a thread must have before another one is worth spawning
/// (a spawn costs tens of microseconds; this is a few hundred).
pub(crate) const MIN_WORK_PER_THREAD: usize = 1 << 20;

fn check_matrix(matrix: &[f32], dim: usize) -> Result<usize, KernelError> {
    if dim == 0 {
        return Err(KernelError::ZeroDimension);
    }
    if !matrix.len().is_multiple_of(dim) {
        return Err(KernelError::MatrixShape {
            len: matrix.len(),
            dim,
        });
    }
    Ok(matrix.len() / dim)
}

fn check_min_score(opts: &ScanOptions<'_>) -> Result<(), KernelError> {
    match opts.min_score {
        Some(m) if m.is_nan() => Err(KernelError::InvalidMinScore),
        _ => Ok(()),
    }
}

/// Threads to use for `rows` rows of `work_per_row` multiply-adds each.
fn plan_threads(requested: usize, rows: usize, work_per_row: usize, min_work: usize) -> usize {
    let wanted = if requested == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        requested
    };
    let by_work = rows.saturating_mul(work_per_row) / min_work.max(1);
    // Ranges are aligned to 64 rows (one filter word), so no more than that.
    wanted.min(by_work).min(rows.div_ceil(64)).max(1)
}

/// Splits `0..rows` into `parts` ranges aligned to 64 rows.
fn split(rows: usize, parts: usize) -> Vec<Range<usize>> {
    let words = rows.div_ceil(64);
    let parts = parts.clamp(1, words.max(1));
    (0..parts)
        .map(|i| {
            let lo = (words * i / parts * 64).min(rows);
            let hi = (words * (i + 1) / parts * 64).min(rows);
            lo..hi
        })
        .collect()
}

/// Runs `f` on each range, the first on this thread and the others on
/// scoped threads (or on this thread too, if the OS refuses a thread).
pub(crate) fn run_split<T: Send>(
    ranges: Vec<Range<usize>>,
    f: impl Fn(Range<usize>) -> T + Sync,
) -> Vec<T> {
    if ranges.len() <= 1 {
        return ranges.into_iter().map(&f).collect();
    }
    let f = &f;
    std::thread::scope(|s| {
        let mut iter = ranges.into_iter();
        let first = iter.next();
        let handles: Vec<_> = iter
            .map(|r| {
                let fallback = r.clone();
                match std::thread::Builder::new().spawn_scoped(s, move || f(r)) {
                    Ok(h) => Ok(h),
                    Err(_) => Err(fallback),
                }
            })
            .collect();
        let mut out = Vec::with_capacity(handles.len() + 1);
        out.extend(first.map(f));
        for h in handles {
            match h {
                Ok(h) => match h.join() {
                    Ok(v) => out.push(v),
                    Err(panic) => std::panic::resume_unwind(panic),
                },
                Err(r) => out.push(f(r)),
            }
        }
        out
    })
}

pub(crate) fn top_k(
    imp: &Impl,
    query: &[f32],
    matrix: &[f32],
    dim: usize,
    opts: &ScanOptions<'_>,
    min_work: usize,
) -> Result<Vec<Hit>, KernelError> {
    let n = check_matrix(matrix, dim)?;
    if query.len() != dim {
        return Err(KernelError::DimensionMismatch {
            expected: dim,
            got: query.len(),
        });
    }
    check_min_score(opts)?;
    if opts.k == 0 || n == 0 {
        return Ok(Vec::new());
    }
    let threads = plan_threads(opts.threads, n, dim, min_work);
    let parts = run_split(split(n, threads), |range| {
        let mut top = TopK::new(opts.k.min(range.len()), opts.min_score);
        let mut buf = Vec::with_capacity(SINGLE_BLOCK);
        let mut scores = [0.0f32; SINGLE_BLOCK];
        for_each_block(
            range,
            opts.filter.as_ref(),
            SINGLE_BLOCK,
            &mut buf,
            |rows| {
                let s = &mut scores[..rows.len()];
                (imp.score_rows)(query, matrix, dim, rows, s);
                top.offer_block(rows, s);
            },
        );
        top.into_sorted()
    });
    Ok(merge(parts, opts.k))
}

pub(crate) fn top_k_batch(
    imp: &Impl,
    queries: &[f32],
    matrix: &[f32],
    dim: usize,
    opts: &ScanOptions<'_>,
    min_work: usize,
) -> Result<Vec<Vec<Hit>>, KernelError> {
    let n = check_matrix(matrix, dim)?;
    if !queries.len().is_multiple_of(dim) {
        return Err(KernelError::QueriesShape {
            len: queries.len(),
            dim,
        });
    }
    check_min_score(opts)?;
    let nq = queries.len() / dim;
    if opts.k == 0 || n == 0 || nq == 0 {
        return Ok(vec![Vec::new(); nq]);
    }
    let block = (BATCH_BLOCK_BYTES / (dim * 4)).clamp(12, 1024) / 12 * 12;
    let threads = plan_threads(opts.threads, n, dim.saturating_mul(nq), min_work);
    let parts = run_split(split(n, threads), |range| {
        let cap = opts.k.min(range.len());
        let mut tops: Vec<TopK> = (0..nq).map(|_| TopK::new(cap, opts.min_score)).collect();
        let mut buf = Vec::with_capacity(block);
        let mut scores = vec![0.0f32; BATCH_QUERIES.min(nq) * block];
        for_each_block(range, opts.filter.as_ref(), block, &mut buf, |rows| {
            let m = rows.len();
            for (qc, chunk) in queries.chunks(BATCH_QUERIES * dim).enumerate() {
                let cq = chunk.len() / dim;
                let s = &mut scores[..cq * m];
                (imp.score_rows_batch)(chunk, matrix, dim, rows, s);
                let tops = &mut tops[qc * BATCH_QUERIES..qc * BATCH_QUERIES + cq];
                for (top, qs) in tops.iter_mut().zip(s.chunks_exact(m)) {
                    top.offer_block(rows, qs);
                }
            }
        });
        tops.into_iter().map(TopK::into_sorted).collect::<Vec<_>>()
    });
    // Transpose [thread][query] into per-query lists and merge each.
    let mut per_query: Vec<Vec<Vec<Hit>>> =
        (0..nq).map(|_| Vec::with_capacity(parts.len())).collect();
    for part in parts {
        for (q, hits) in part.into_iter().enumerate() {
            per_query[q].push(hits);
        }
    }
    Ok(per_query.into_iter().map(|p| merge(p, opts.k)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_is_aligned_disjoint_and_covering() {
        for rows in [0usize, 1, 63, 64, 65, 1000, 4096, 100_001] {
            for parts in 1..6 {
                let ranges = split(rows, parts);
                assert!(!ranges.is_empty() && ranges.len() <= parts);
                assert_eq!(ranges[0].start, 0);
                assert_eq!(ranges.last().map(|r| r.end), Some(rows));
                for w in ranges.windows(2) {
                    assert_eq!(w[0].end, w[1].start);
                    assert_eq!(w[0].end % 64, 0);
                }
            }
        }
    }

    #[test]
    fn small_inputs_stay_on_one_thread() {
        assert_eq!(plan_threads(8, 100, 384, MIN_WORK_PER_THREAD), 1);
        assert_eq!(plan_threads(2, 1_000_000, 384, MIN_WORK_PER_THREAD), 2);
        assert_eq!(plan_threads(3, 1_000_000, 384, MIN_WORK_PER_THREAD), 3);
        assert!(plan_threads(0, 1_000_000, 384, MIN_WORK_PER_THREAD) >= 1);
        // Never more threads than 64-row words.
        assert_eq!(plan_threads(16, 130, 1 << 20, 1), 3);
    }
}
