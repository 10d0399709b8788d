//! The two phases of an int8 search: the scan of the codes, which keeps
//! every row whose interval still reaches the top `k` (phase 1), and the
//! exact rescoring of those candidates in descending order of their upper
//! bound until none left can enter the top `k` (phase 2).

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

use super::bound::{BlockMeta, QueryBound, contains};
use super::quantize::Int8Rows;
use super::simd::Int8Impl;
use super::{Int8Error, Int8Search};
use crate::row_filter::for_each_block;
use crate::scan::{MIN_WORK_PER_THREAD, plan_threads, run_chunks};
use crate::select::rank;
use crate::{RowHit, ScanOptions};

/// Rows per block of the single-query scan (dots and bounds stay in L1).
const SINGLE_BLOCK: usize = 256;
/// Bytes of codes per block in the batch scan: re-read once per tile of
/// queries, so it must stay in L2. Measured on Zen 4 (1 MiB L2), 1M x 384,
/// 64 clustered queries, in one process: 16 KiB 258 ms a batch, 32 KiB 177,
/// 64 KiB 187-211, 128 KiB 163, 256 KiB 154, 512 KiB 162 (fewer, larger
/// blocks spread the per-block work over more rows until L2 runs out).
const BATCH_BLOCK_BYTES: usize = 256 * 1024;
/// Queries per call into the batch primitive.
const BATCH_QUERIES: usize = 64;

/// A row that phase 1 kept, with its score interval.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cand {
    pub(crate) row: usize,
    pub(crate) lo: f64,
    pub(crate) hi: f64,
}

/// Where phase 1 reads a passing row's codes again, and the tier's dot
/// product for them.
#[derive(Clone, Copy)]
pub(crate) struct Source<'a> {
    pub(crate) rows: &'a Int8Rows,
    pub(crate) dot: fn(&[i8], &[i8]) -> i32,
}

/// A lower bound ordered totally (never NaN: intervals are finite or ±inf).
#[derive(Clone, Copy, PartialEq)]
struct Low(f64);
impl Eq for Low {}
impl PartialOrd for Low {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Low {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// Phase 1 for one query over the rows one worker sees.
pub(crate) struct Phase1 {
    k: usize,
    min: f64,
    /// The `k` largest lower bounds among rows whose lower bound reaches
    /// `min` (such a row surely qualifies, with a score `>=` its bound).
    lows: BinaryHeap<Reverse<Low>>,
    /// The `k`-th largest of those (`-inf` until there are `k`): the
    /// `k`-th best exact score is at least this.
    cut: f64,
    cands: Vec<Cand>,
}

impl Phase1 {
    pub(crate) fn new(k: usize, min: f64) -> Self {
        Phase1 {
            k,
            min,
            lows: BinaryHeap::with_capacity(k.min(1024) + 1),
            cut: f64::NEG_INFINITY,
            cands: Vec::new(),
        }
    }

    fn offer_low(&mut self, lo: f64) {
        if lo < self.min {
            return;
        }
        if self.lows.len() < self.k {
            self.lows.push(Reverse(Low(lo)));
        } else if let Some(mut top) = self.lows.peek_mut() {
            if lo > top.0.0 {
                *top = Reverse(Low(lo));
            } else {
                return;
            }
        }
        if self.lows.len() == self.k
            && let Some(top) = self.lows.peek()
        {
            self.cut = top.0.0;
        }
    }

    /// Offers rows (`block` holds their [`BlockMeta`]) with their integer
    /// dot products; `hi` is scratch space of at least `rows.len()`.
    ///
    /// Almost every row misses the top `k`. The fast test of
    /// [`QueryBound::fast_cut`] settles those with a multiply and a compare
    /// (16 at a time, without a branch each); only the rows that pass it
    /// get their interval, and they become candidates exactly as if every
    /// row had been bounded ([`Self::offer_row`]). The cut is taken once per block: it only grows, so a cut
    /// from earlier in the block lets through more rows, never fewer.
    #[inline]
    pub(crate) fn offer_block(
        &mut self,
        qb: &QueryBound,
        src: Source<'_>,
        block: &BlockMeta,
        rows: &[usize],
        dots: &[i32],
        hi: &mut [f64],
    ) {
        let Some(cut) = qb.fast_cut(block, self.cut.max(self.min)) else {
            let hi = &mut hi[..rows.len()];
            qb.uppers_of_rows(src.rows.all_meta(), rows, dots, hi);
            self.offer_uppers(qb, src, rows, dots, hi);
            return;
        };
        let scales = &block.scale32[..rows.len()];
        // `dot as f32 * s`: one rounding each, never fused (Rust does not
        // contract), as the proof of the cut assumes.
        let passes = |d: i32, s: f32| d as f32 * s >= cut;
        for (c, (ds, ss)) in dots.chunks(16).zip(scales.chunks(16)).enumerate() {
            if !ds
                .iter()
                .zip(ss)
                .fold(false, |any, (&d, &s)| any | passes(d, s))
            {
                continue;
            }
            for (j, (&d, &s)) in ds.iter().zip(ss).enumerate() {
                if passes(d, s) {
                    self.offer_row(qb, src, rows[c * 16 + j], d);
                }
            }
        }
        self.compact_if_large();
    }

    /// Offers rows with their integer dot products and the upper ends of
    /// their intervals (`hi`, one per row, as [`QueryBound::uppers_of_rows`]).
    fn offer_uppers(
        &mut self,
        qb: &QueryBound,
        src: Source<'_>,
        rows: &[usize],
        dots: &[i32],
        hi: &[f64],
    ) {
        let mut thr = self.cut.max(self.min);
        // Almost every row misses: settle 8 at a time without a branch each.
        for (c, h) in hi.chunks(8).enumerate() {
            if !h.iter().fold(false, |any, &x| any | (x >= thr)) {
                continue;
            }
            for (j, &x) in h.iter().enumerate() {
                if x < thr {
                    continue;
                }
                let i = c * 8 + j;
                self.offer_row(qb, src, rows[i], dots[i]);
                thr = self.cut.max(self.min);
            }
        }
        self.compact_if_large();
    }

    /// Keeps `row` (integer dot `dot` with the query's codes) as a
    /// candidate if its interval reaches the cut. A row whose interval
    /// reaches it gets the narrower interval of
    /// [`QueryBound::narrow`] first (one more integer dot, while its
    /// codes are still in cache from the scan), which it must reach too;
    /// its narrowed lower bound then raises the cut sooner for every row
    /// after it.
    #[inline]
    fn offer_row(&mut self, qb: &QueryBound, src: Source<'_>, row: usize, dot: i32) {
        let meta = src.rows.meta(row);
        let thr = self.cut.max(self.min);
        let coarse = qb.interval(meta, dot);
        if coarse.1 < thr {
            return;
        }
        let (lo, hi) = if qb.fine_codes.is_empty() {
            coarse
        } else {
            let fine = (src.dot)(&qb.fine_codes, src.rows.codes(row));
            qb.narrow(meta, coarse, dot, fine)
        };
        if hi >= thr {
            self.cands.push(Cand { row, lo, hi });
            self.offer_low(lo);
        }
    }

    fn compact_if_large(&mut self) {
        if self.cands.len() > self.k.saturating_mul(2).saturating_add(4096) {
            self.compact();
        }
    }

    fn compact(&mut self) {
        let thr = self.cut.max(self.min);
        self.cands.retain(|c| c.hi >= thr);
    }

    /// Merges the workers' states: the global cut, and the candidates that
    /// reach it.
    pub(crate) fn merge(parts: Vec<Phase1>, k: usize, min: f64) -> Vec<Cand> {
        let mut all = Phase1::new(k, min);
        let mut cands = Vec::new();
        for p in parts {
            for Reverse(Low(lo)) in p.lows {
                all.offer_low(lo);
            }
            cands.extend(p.cands);
        }
        let thr = all.cut.max(min);
        cands.retain(|c| c.hi >= thr);
        cands
    }
}

/// Phase 1 of one query: the candidates, in no particular order.
pub(crate) fn scan_single(
    imp: &Int8Impl,
    rows: &Int8Rows,
    qb: &QueryBound,
    opts: &ScanOptions<'_>,
    min: f64,
) -> Vec<Cand> {
    let n = rows.len();
    let dim = rows.dim();
    let (codes, meta) = (rows.all_codes(), rows.all_meta());
    let src = Source { rows, dot: imp.dot };
    // An int8 multiply-add is about a quarter of an f32 one's bytes.
    let threads = plan_threads(opts.threads, n, dim.div_ceil(4), MIN_WORK_PER_THREAD);
    let parts = run_chunks(
        n,
        threads,
        || {
            (
                Phase1::new(opts.k, min),
                Vec::with_capacity(SINGLE_BLOCK),
                BlockMeta::default(),
            )
        },
        |(p1, buf, bm), range| {
            let mut dots = [0i32; SINGLE_BLOCK];
            let mut hi = [0f64; SINGLE_BLOCK];
            for_each_block(range, opts.filter.as_ref(), SINGLE_BLOCK, buf, |r| {
                let d = &mut dots[..r.len()];
                (imp.dot_rows)(&qb.codes, codes, dim, r, d);
                bm.fill(meta, r);
                p1.offer_block(qb, src, bm, r, d, &mut hi);
            });
        },
    );
    Phase1::merge(parts.into_iter().map(|(p, ..)| p).collect(), opts.k, min)
}

/// Phase 1 of many queries in one pass over the codes.
pub(crate) fn scan_batch(
    imp: &Int8Impl,
    rows: &Int8Rows,
    qbs: &[QueryBound],
    opts: &ScanOptions<'_>,
    min: f64,
) -> Vec<Vec<Cand>> {
    let n = rows.len();
    let dim = rows.dim();
    let nq = qbs.len();
    let (codes, meta) = (rows.all_codes(), rows.all_meta());
    let src = Source { rows, dot: imp.dot };
    let qcodes: Vec<i8> = qbs.iter().flat_map(|q| q.codes.iter().copied()).collect();
    let block = (BATCH_BLOCK_BYTES / dim).clamp(16, 4096);
    let threads = plan_threads(
        opts.threads,
        n,
        dim.div_ceil(4).saturating_mul(nq),
        MIN_WORK_PER_THREAD,
    );
    let parts = run_chunks(
        n,
        threads,
        || {
            (
                (0..nq)
                    .map(|_| Phase1::new(opts.k, min))
                    .collect::<Vec<_>>(),
                Vec::with_capacity(block),
                vec![0i32; BATCH_QUERIES.min(nq) * block],
                BlockMeta::default(),
                vec![0f64; block],
            )
        },
        |(p1s, buf, dots, bm, hi), range| {
            for_each_block(range, opts.filter.as_ref(), block, buf, |r| {
                let m = r.len();
                bm.fill(meta, r);
                for (qc, chunk) in qcodes.chunks(BATCH_QUERIES * dim).enumerate() {
                    let cq = chunk.len() / dim;
                    let d = &mut dots[..cq * m];
                    (imp.dot_rows_batch)(chunk, codes, dim, r, d);
                    let first = qc * BATCH_QUERIES;
                    for (j, qd) in d.chunks_exact(m).enumerate() {
                        p1s[first + j].offer_block(&qbs[first + j], src, bm, r, qd, hi);
                    }
                }
            });
        },
    );
    // Transpose [worker][query] into per-query merges.
    let mut per_query: Vec<Vec<Phase1>> = (0..nq).map(|_| Vec::new()).collect();
    for (p1s, ..) in parts {
        for (q, p) in p1s.into_iter().enumerate() {
            per_query[q].push(p);
        }
    }
    per_query
        .into_iter()
        .map(|parts| Phase1::merge(parts, opts.k, min))
        .collect()
}

/// The caller's row fetcher, as phase 2 calls it.
pub(crate) type Fetch<'f, E> = dyn FnMut(&[usize], &mut [f32]) -> Result<(), E> + 'f;

/// Phase 2 for one query.
struct Phase2<'q> {
    query: &'q [f32],
    cands: Vec<Cand>,
    pos: usize,
    kept: Vec<RowHit>,
    rescored: usize,
    candidates: usize,
}

impl Phase2<'_> {
    /// Whether no candidate from `pos` on can enter the top `k`: their upper
    /// bounds (sorted descending) are below the `k`-th exact score.
    fn settled(&self, k: usize) -> bool {
        let Some(next) = self.cands.get(self.pos) else {
            return true;
        };
        match self.kept.get(k.wrapping_sub(1)) {
            Some(kth) if self.kept.len() == k && !kth.score.is_nan() => {
                next.hi < f64::from(kth.score)
            }
            _ => false,
        }
    }
}

/// Phase 2 for every query: rescore candidates in descending order of
/// their upper bound, a round of at most `max(k, 8)` per query at a time
/// (one `fetch` per round for all queries, rows ascending, each row once),
/// until each query is settled.
pub(crate) fn rescore<E>(
    dot: fn(&[f32], &[f32]) -> f32,
    dim: usize,
    queries: &[&[f32]],
    cands: Vec<Vec<Cand>>,
    k: usize,
    min: f64,
    fetch: &mut Fetch<'_, E>,
) -> Result<Vec<Int8Search>, Int8Error<E>> {
    let mut states: Vec<Phase2<'_>> = queries
        .iter()
        .zip(cands)
        .map(|(&query, mut cands)| {
            // Upper bound descending, then row ascending (deterministic).
            cands.sort_unstable_by(|a, b| b.hi.total_cmp(&a.hi).then(a.row.cmp(&b.row)));
            Phase2 {
                query,
                candidates: cands.len(),
                cands,
                pos: 0,
                kept: Vec::new(),
                rescored: 0,
            }
        })
        .collect();
    let step = k.max(8);
    let mut wanted: Vec<(usize, usize, usize)> = Vec::new(); // (row, query, cand index)
    let mut rows: Vec<usize> = Vec::new();
    let mut buf: Vec<f32> = Vec::new();
    loop {
        wanted.clear();
        for (q, st) in states.iter_mut().enumerate() {
            let mut taken = 0;
            while taken < step && !st.settled(k) {
                wanted.push((st.cands[st.pos].row, q, st.pos));
                st.pos += 1;
                taken += 1;
            }
        }
        if wanted.is_empty() {
            break;
        }
        rows.clear();
        rows.extend(wanted.iter().map(|w| w.0));
        rows.sort_unstable();
        rows.dedup();
        buf.clear();
        buf.resize(rows.len() * dim, 0.0);
        fetch(&rows, &mut buf).map_err(Int8Error::Fetch)?;
        for &(row, q, ci) in &wanted {
            let at = rows
                .binary_search(&row)
                .expect("every candidate rescored was among the rows fetched");
            let st = &mut states[q];
            let score = dot(st.query, &buf[at * dim..(at + 1) * dim]);
            let c = st.cands[ci];
            if !contains(c.lo, c.hi, score) {
                return Err(Int8Error::OutsideBound {
                    row,
                    score,
                    lo: c.lo,
                    hi: c.hi,
                });
            }
            st.rescored += 1;
            // `min` came from an f32 min_score (or is -inf): the cast is exact.
            if crate::select::at_least(score, min as f32) {
                st.kept.push(RowHit { score, row });
            }
        }
        for st in &mut states {
            st.kept.sort_unstable_by(rank);
            st.kept.truncate(k);
        }
    }
    Ok(states
        .into_iter()
        .map(|st| Int8Search {
            hits: st.kept,
            rescored: st.rescored,
            candidates: st.candidates,
        })
        .collect())
}
