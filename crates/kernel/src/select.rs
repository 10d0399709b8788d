//! Top-k selection: a bounded heap behind a threshold test.
//!
//! Almost every row of a large scan loses to the current k-th best, so the
//! hot path is one float comparison against a cached threshold; only rows
//! that pass it reach the heap. The threshold only ever rises, so a stale
//! value is merely conservative.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use crate::RowHit;

/// The result order: higher score first, NaN after every number, ties (and
/// NaN among themselves) by ascending row.
pub(crate) fn rank(a: &RowHit, b: &RowHit) -> Ordering {
    match (a.score.is_nan(), b.score.is_nan()) {
        (false, false) => b
            .score
            .partial_cmp(&a.score)
            .unwrap_or(Ordering::Equal)
            .then(a.row.cmp(&b.row)),
        (false, true) => Ordering::Less,
        (true, false) => Ordering::Greater,
        (true, true) => a.row.cmp(&b.row),
    }
}

/// The fast test: `score` may beat a threshold `t`. True when `score > t`,
/// and also whenever either is NaN, so NaN always falls through to the exact
/// test in [`TopK::offer`] instead of being silently dropped.
#[inline(always)]
#[allow(clippy::neg_cmp_op_on_partial_ord)] // the NaN behaviour is the point
fn passes(score: f32, t: f32) -> bool {
    !(score <= t)
}

/// Whether any score passes the fast test against `t`.
#[inline]
fn any_passes(scores: &[f32], t: f32) -> bool {
    const W: usize = 16;
    let chunks = scores.chunks_exact(W);
    let mut hit = chunks
        .remainder()
        .iter()
        .fold(false, |any, &x| any | passes(x, t));
    for c in chunks {
        let mut lanes = [false; W];
        for (l, &x) in lanes.iter_mut().zip(c) {
            *l = passes(x, t);
        }
        hit |= lanes.iter().fold(false, |a, &b| a | b);
    }
    hit
}

/// `score >= m`, false for NaN: the one `min_score` test of every scan
/// (the int8 search's phase 2 calls it too, so both agree on every row).
#[inline(always)]
pub(crate) fn at_least(score: f32, m: f32) -> bool {
    score.partial_cmp(&m).is_some_and(|o| o != Ordering::Less)
}

/// A heap entry whose `Ord` is [`rank`], so the heap's top is the worst hit.
#[derive(Clone, Copy)]
struct Ranked(RowHit);

impl PartialEq for Ranked {
    fn eq(&self, other: &Self) -> bool {
        rank(&self.0, &other.0) == Ordering::Equal
    }
}
impl Eq for Ranked {}
impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> Ordering {
        rank(&self.0, &other.0)
    }
}

/// The best `cap` hits offered so far that pass `min_score`.
pub(crate) struct TopK {
    cap: usize,
    min_score: Option<f32>,
    /// A row can only enter if `!(score <= threshold)`. NaN while the heap
    /// has room (or holds a NaN), so that everything reaches the exact test.
    threshold: f32,
    heap: BinaryHeap<Ranked>,
}

impl TopK {
    /// `cap` must already be bounded by the number of rows that can be
    /// offered, so the heap never allocates beyond the input.
    pub(crate) fn new(cap: usize, min_score: Option<f32>) -> Self {
        let threshold = match min_score {
            // Keep scores >= m: the fast test is a strict `>` on next_down(m).
            Some(m) if m > f32::NEG_INFINITY => m.next_down(),
            _ => f32::NAN,
        };
        TopK {
            cap,
            min_score,
            threshold,
            // Grows as needed beyond this: a large k with a selective
            // filter or min_score should not allocate for rows never kept.
            heap: BinaryHeap::with_capacity(cap.min(1024)),
        }
    }

    /// Offers rows in ascending order (within one `TopK`). Equal scores keep
    /// the earlier row, which the threshold test relies on: a later row
    /// whose score equals the threshold can never win.
    #[inline]
    pub(crate) fn offer_block(&mut self, rows: &[usize], scores: &[f32]) {
        // Once the heap is full almost every block loses entirely: one
        // branch-free pass over all its scores (vector compares and ORs)
        // settles that without a branch per 8 scores.
        if !any_passes(scores, self.threshold) {
            return;
        }
        const W: usize = 8;
        let rows_chunks = rows.chunks_exact(W);
        let score_chunks = scores.chunks_exact(W);
        let (rows_rest, scores_rest) = (rows_chunks.remainder(), score_chunks.remainder());
        for (r, s) in rows_chunks.zip(score_chunks) {
            let t = self.threshold;
            // Branch-free test of 8 scores (vectorizes); the usual answer is "none".
            if s.iter().fold(false, |any, &x| any | passes(x, t)) {
                self.offer_each(r, s);
            }
        }
        self.offer_each(rows_rest, scores_rest);
    }

    #[inline]
    fn offer_each(&mut self, rows: &[usize], scores: &[f32]) {
        for (&row, &score) in rows.iter().zip(scores) {
            if passes(score, self.threshold) {
                self.offer(RowHit { score, row });
            }
        }
    }

    #[cold]
    fn offer(&mut self, hit: RowHit) {
        if self.cap == 0 {
            return;
        }
        if let Some(m) = self.min_score
            && !at_least(hit.score, m)
        {
            return;
        }
        if self.heap.len() < self.cap {
            self.heap.push(Ranked(hit));
        } else if let Some(mut worst) = self.heap.peek_mut() {
            if rank(&hit, &worst.0) == Ordering::Less {
                *worst = Ranked(hit);
            } else {
                return;
            }
        }
        if self.heap.len() == self.cap
            && let Some(worst) = self.heap.peek()
        {
            // NaN when the worst kept hit is NaN: every score then passes
            // the fast test and the exact one decides.
            self.threshold = worst.0.score;
        }
    }

    /// The hits kept, best first.
    pub(crate) fn into_sorted(self) -> Vec<RowHit> {
        let mut v: Vec<RowHit> = self.heap.into_iter().map(|r| r.0).collect();
        v.sort_unstable_by(rank);
        v
    }
}

/// Merges per-thread results (each a valid top list) into the top `k`.
pub(crate) fn merge(parts: Vec<Vec<RowHit>>, k: usize) -> Vec<RowHit> {
    let mut all: Vec<RowHit> = if parts.len() == 1 {
        parts.into_iter().next().unwrap_or_default()
    } else {
        parts.concat()
    };
    all.sort_unstable_by(rank);
    all.truncate(k);
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offer_all(t: &mut TopK, scores: &[f32]) {
        let rows: Vec<usize> = (0..scores.len()).collect();
        t.offer_block(&rows, scores);
    }

    #[test]
    fn keeps_the_best_with_ties_by_row_and_nan_last() {
        let mut t = TopK::new(4, None);
        offer_all(
            &mut t,
            &[0.5, f32::NAN, 0.9, 0.5, -1.0, 0.9, 0.1, 0.5, 0.2, 0.3, 0.0],
        );
        let got: Vec<(f32, usize)> = t.into_sorted().iter().map(|h| (h.score, h.row)).collect();
        assert_eq!(got, vec![(0.9, 2), (0.9, 5), (0.5, 0), (0.5, 3)]);
    }

    #[test]
    fn nan_fills_only_when_numbers_run_out_and_is_evicted_by_numbers() {
        let mut t = TopK::new(3, None);
        offer_all(&mut t, &[f32::NAN, f32::NAN, 0.25]);
        let got = t.into_sorted();
        assert_eq!(got[0].row, 2);
        assert!(got[1].score.is_nan() && got[1].row == 0);
        assert!(got[2].score.is_nan() && got[2].row == 1);

        let mut t = TopK::new(2, None);
        let rows: Vec<usize> = (0..20).collect();
        let mut scores = vec![f32::NAN; 20];
        scores[17] = -5.0;
        scores[19] = f32::NEG_INFINITY;
        t.offer_block(&rows, &scores);
        let got: Vec<usize> = t.into_sorted().iter().map(|h| h.row).collect();
        assert_eq!(got, vec![17, 19]);
    }

    #[test]
    fn min_score_is_inclusive_and_rejects_nan() {
        let mut t = TopK::new(10, Some(0.5));
        offer_all(
            &mut t,
            &[0.5, 0.49999997, f32::NAN, 0.75, 0.5f32.next_down(), 1.0],
        );
        let got: Vec<usize> = t.into_sorted().iter().map(|h| h.row).collect();
        assert_eq!(got, vec![5, 3, 0]);

        let mut t = TopK::new(10, Some(f32::NEG_INFINITY));
        offer_all(&mut t, &[f32::NEG_INFINITY, f32::NAN]);
        let got: Vec<usize> = t.into_sorted().iter().map(|h| h.row).collect();
        assert_eq!(got, vec![0]);
    }

    #[test]
    fn merge_orders_and_truncates() {
        let h = |score, row| RowHit { score, row };
        let merged = merge(
            vec![vec![h(0.9, 10), h(0.1, 11)], vec![h(0.9, 3), h(0.5, 4)]],
            3,
        );
        assert_eq!(merged, vec![h(0.9, 3), h(0.9, 10), h(0.5, 4)]);
    }
}
