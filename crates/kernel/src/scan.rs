//! The scans: argument checks, splitting rows across threads, feeding row
//! blocks to a tier's primitives and the scores to [`TopK`].

use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::row_filter::for_each_block;
use crate::select::{TopK, merge};
use crate::simd::Impl;
use crate::{KernelError, RowHit, ScanOptions};

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

/// The most worker threads a scan (or probe) starts, whatever is asked:
/// bounds the resources one call can take.
pub(crate) const MAX_THREADS: usize = 256;

/// `std::thread::available_parallelism()`, asked once: on Linux it reads
/// cgroup files, which costs more than scanning a small matrix.
pub(crate) fn default_threads() -> usize {
    static CACHED: AtomicUsize = AtomicUsize::new(0);
    match CACHED.load(Ordering::Relaxed) {
        0 => {
            let n = std::thread::available_parallelism().map_or(1, |n| n.get());
            CACHED.store(n, Ordering::Relaxed);
            n
        }
        n => n,
    }
}

/// Threads to use for `rows` rows of `work_per_row` multiply-adds each.
fn plan_threads(requested: usize, rows: usize, work_per_row: usize, min_work: usize) -> usize {
    let wanted = if requested == 0 {
        default_threads()
    } else {
        requested
    };
    let by_work = rows.saturating_mul(work_per_row) / min_work.max(1);
    // Chunks are whole 64-row filter words, so no more workers than words.
    wanted
        .min(MAX_THREADS)
        .min(by_work)
        .min(rows.div_ceil(64))
        .max(1)
}

/// Rows per work chunk: about 32 chunks per thread, so a thread slowed by
/// a busy core (the machines nidus runs on are shared) hands its share to
/// the others instead of holding up the join; a multiple of 64 rows so that
/// a chunk covers whole filter words.
fn chunk_rows(rows: usize, threads: usize) -> usize {
    rows.div_ceil(threads.max(1) * 32)
        .next_multiple_of(64)
        .max(64)
}

/// Runs `work` over `0..rows` on `threads` workers (the calling thread and
/// `threads - 1` scoped threads) and returns each worker's state. Workers
/// claim chunks of rows from a shared counter, so each worker sees its rows
/// in ascending order (which [`TopK`] relies on) but not contiguously. If the
/// OS refuses a thread, the remaining workers do its share.
pub(crate) fn run_chunks<S: Send>(
    rows: usize,
    threads: usize,
    make: impl Fn() -> S + Sync,
    work: impl Fn(&mut S, Range<usize>) + Sync,
) -> Vec<S> {
    if threads <= 1 {
        let mut s = make();
        work(&mut s, 0..rows);
        return vec![s];
    }
    let chunk = chunk_rows(rows, threads);
    let chunks = rows.div_ceil(chunk);
    let next = AtomicUsize::new(0);
    let worker = || {
        let mut s = make();
        loop {
            let c = next.fetch_add(1, Ordering::Relaxed);
            if c >= chunks {
                break;
            }
            work(&mut s, c * chunk..((c + 1) * chunk).min(rows));
        }
        s
    };
    let worker = &worker;
    std::thread::scope(|scope| {
        let handles: Vec<_> = (1..threads)
            .filter_map(|_| std::thread::Builder::new().spawn_scoped(scope, worker).ok())
            .collect();
        let mut out = Vec::with_capacity(threads);
        out.push(worker());
        for h in handles {
            match h.join() {
                Ok(s) => out.push(s),
                Err(panic) => std::panic::resume_unwind(panic),
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
) -> Result<Vec<RowHit>, KernelError> {
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
    let parts = run_chunks(
        n,
        threads,
        || {
            (
                TopK::new(opts.k.min(n), opts.min_score),
                Vec::with_capacity(SINGLE_BLOCK),
            )
        },
        |(top, buf), range| {
            let mut scores = [0.0f32; SINGLE_BLOCK];
            for_each_block(range, opts.filter.as_ref(), SINGLE_BLOCK, buf, |rows| {
                let s = &mut scores[..rows.len()];
                (imp.score_rows)(query, matrix, dim, rows, s);
                top.offer_block(rows, s);
            });
        },
    );
    Ok(merge(
        parts
            .into_iter()
            .map(|(top, _)| top.into_sorted())
            .collect(),
        opts.k,
    ))
}

/// Rows from which [`aligned_copy`] pays for itself.
const ALIGN_MIN_ROWS: usize = 256;

/// `queries` copied to a 64-byte boundary, if they are not there already
/// and the matrix has enough rows (`n`) to amortize the copy. Every query
/// vector is loaded once per row tile; when the slice starts 16 bytes off
/// a cache line (common for large allocations), half of those 32-byte
/// loads split a line, which measured about 8% of the batch kernel's time.
/// The returned box may start before the aligned data; use the slice.
fn aligned_copy(queries: &[f32], n: usize) -> Option<AlignedQueries> {
    if n < ALIGN_MIN_ROWS || queries.as_ptr().align_offset(64) == 0 {
        return None;
    }
    let mut buf = vec![0.0f32; queries.len() + 16];
    let skip = match buf.as_ptr().align_offset(64) {
        s if s < 16 => s,
        _ => 0,
    };
    buf[skip..skip + queries.len()].copy_from_slice(queries);
    Some(AlignedQueries {
        buf,
        skip,
        len: queries.len(),
    })
}

/// A copy of the queries starting on a cache line (see [`aligned_copy`]).
struct AlignedQueries {
    buf: Vec<f32>,
    skip: usize,
    len: usize,
}

impl std::ops::Deref for AlignedQueries {
    type Target = [f32];
    fn deref(&self) -> &[f32] {
        &self.buf[self.skip..self.skip + self.len]
    }
}

/// One batch worker's state: a top-k per query and scratch buffers.
struct Worker {
    tops: Vec<TopK>,
    buf: Vec<usize>,
    scores: Vec<f32>,
}

pub(crate) fn top_k_batch(
    imp: &Impl,
    queries: &[f32],
    matrix: &[f32],
    dim: usize,
    opts: &ScanOptions<'_>,
    min_work: usize,
) -> Result<Vec<Vec<RowHit>>, KernelError> {
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
    if nq == 1 {
        // One query gains nothing from register tiles and is bound by
        // memory: the single-query scan (same scores to the bit) is the
        // fastest way through the matrix.
        return Ok(vec![top_k(imp, queries, matrix, dim, opts, min_work)?]);
    }
    let aligned = aligned_copy(queries, n);
    let queries = aligned.as_deref().unwrap_or(queries);
    let block = (BATCH_BLOCK_BYTES / (dim * 4)).clamp(12, 1024) / 12 * 12;
    let threads = plan_threads(opts.threads, n, dim.saturating_mul(nq), min_work);
    let cap = opts.k.min(n);
    let parts = run_chunks(
        n,
        threads,
        || Worker {
            tops: (0..nq).map(|_| TopK::new(cap, opts.min_score)).collect(),
            buf: Vec::with_capacity(block),
            scores: vec![0.0f32; BATCH_QUERIES.min(nq) * block],
        },
        |Worker { tops, buf, scores }, range| {
            for_each_block(range, opts.filter.as_ref(), block, buf, |rows| {
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
        },
    );
    // Transpose [thread][query] into per-query lists and merge each.
    let mut per_query: Vec<Vec<Vec<RowHit>>> =
        (0..nq).map(|_| Vec::with_capacity(parts.len())).collect();
    for part in parts {
        for (q, top) in part.tops.into_iter().enumerate() {
            per_query[q].push(top.into_sorted());
        }
    }
    Ok(per_query.into_iter().map(|p| merge(p, opts.k)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_every_row_once_in_ascending_order_per_worker() {
        for rows in [0usize, 1, 63, 64, 65, 1000, 4096, 100_001] {
            for threads in 1..5 {
                let seen = run_chunks(rows, threads, Vec::new, |v: &mut Vec<Range<usize>>, r| {
                    v.push(r)
                });
                assert!(!seen.is_empty() && seen.len() <= threads.max(1));
                let mut all: Vec<Range<usize>> = Vec::new();
                for worker in &seen {
                    for w in worker.windows(2) {
                        assert!(w[0].end <= w[1].start);
                    }
                    all.extend(worker.iter().cloned());
                }
                all.sort_by_key(|r| r.start);
                let mut at = 0;
                for r in all {
                    assert_eq!(r.start, at);
                    assert!(r.start % 64 == 0 && (r.end > r.start || rows == 0));
                    at = r.end;
                }
                assert_eq!(at, rows);
            }
        }
    }

    #[test]
    fn aligned_copy_is_the_same_queries_on_a_cache_line() {
        let backing: Vec<f32> = (0..1000).map(|i| i as f32 * 0.5).collect();
        for start in 0..20 {
            let queries = &backing[start..start + 770];
            match aligned_copy(queries, ALIGN_MIN_ROWS) {
                Some(copy) => {
                    assert_eq!(&*copy, queries);
                    assert_eq!(copy.as_ptr().align_offset(64), 0);
                }
                None => assert_eq!(queries.as_ptr().align_offset(64), 0),
            }
            // Too few rows to pay for the copy: the caller's slice is used.
            assert!(aligned_copy(queries, ALIGN_MIN_ROWS - 1).is_none());
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
        // Never more than MAX_THREADS, however many are asked for.
        assert_eq!(
            plan_threads(usize::MAX, usize::MAX / 2, 1 << 20, 1),
            MAX_THREADS
        );
    }
}
