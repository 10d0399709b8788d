//! The score interval of one (query, row) pair, computed rigorously in
//! `f64` from the integer dot product of their codes (see the module docs of
//! [`crate::int8`] for the proof of every term).

use super::quantize::{RowMeta, f32_up, quantize_into, sqrt_up};

/// `2⁻⁵⁰` and `2⁻⁴⁰`: slack that dominates every `f64` rounding made while
/// computing an interval (each is at most a few units of `2⁻⁵³` relative).
const APPROX_SLACK: f64 = 1.0 / (1u64 << 50) as f64;
const EPS_SLACK: f64 = 1.0 / (1u64 << 40) as f64;

/// Above this, `Σ|q_i x_i|` could overflow an `f32` partial sum of the
/// `f32` scan (`2¹²⁶` leaves a factor 2 below `f32::MAX`); such rows get an
/// unbounded interval and are always rescored.
const OVERFLOW_GUARD: f64 = (1u128 << 126) as f64;

/// A query quantized like a row, plus the per-query constants of the bound.
pub(crate) struct QueryBound {
    pub(crate) codes: Vec<i8>,
    /// `s_q`.
    scale: f64,
    /// `R_q + γ_n·Q` (rounded up): the factor of a row's `N`.
    per_norm: f64,
    /// `Q + γ_n·Q` (rounded up): the factor of a row's `R`.
    per_residual: f64,
    /// `Q >= ||q||`, for the overflow guard.
    norm: f64,
    /// The absolute error underflow can add to the `f32` scan's score.
    underflow: f64,
}

/// The rows of one scan block, their metadata widened to `f64` and laid out
/// one array per field, so that the bounds of a block vectorize (and, in the
/// batch scan, are converted once for every query).
#[derive(Default)]
pub(crate) struct BlockMeta {
    scale: Vec<f64>,
    norm: Vec<f64>,
    residual: Vec<f64>,
}

impl BlockMeta {
    pub(crate) fn fill(&mut self, meta: &[RowMeta], rows: &[usize]) {
        self.scale.clear();
        self.norm.clear();
        self.residual.clear();
        for &r in rows {
            let m = meta[r];
            self.scale.push(f64::from(m.scale));
            self.norm.push(f64::from(m.norm));
            self.residual.push(f64::from(m.residual));
        }
    }
}

impl QueryBound {
    /// `q` must be finite (checked by the caller).
    pub(crate) fn new(q: &[f32]) -> QueryBound {
        let dim = q.len();
        let mut codes = vec![0i8; dim];
        let meta: RowMeta = quantize_into(q, &mut codes);
        let sum: f64 = q.iter().map(|&v| f64::from(v) * f64::from(v)).sum();
        let norm = f64::from(f32_up(sqrt_up(sum, dim)));
        // The f32 scan sums `dim` products (each rounded once, or fused)
        // with lane accumulators and a pairwise tree: every product passes
        // through at most `dim + 1` roundings whatever the order, so
        // γ_{dim+32} (u = 2⁻²⁴) covers every tier with room to spare.
        let n = (dim + 32) as f64;
        let u = f64::from(f32::EPSILON) / 2.0;
        let gamma = n * u / (1.0 - n * u) * (1.0 + EPS_SLACK);
        let gamma_norm = gamma * norm * (1.0 + EPS_SLACK);
        QueryBound {
            codes,
            scale: f64::from(meta.scale),
            per_norm: (f64::from(meta.residual) + gamma_norm) * (1.0 + EPS_SLACK),
            per_residual: (norm + gamma_norm) * (1.0 + EPS_SLACK),
            norm,
            // Each product may lose up to half the smallest subnormal
            // (2⁻¹⁵⁰) to underflow; additions of subnormals are exact.
            underflow: (dim + 32) as f64 * 2f64.powi(-148),
        }
    }

    /// `(approx, upper end)` for a row with scale `s`, norm bound `n`,
    /// residual bound `r` and integer dot `dot`. The single formula behind
    /// both [`Self::interval`] and [`Self::uppers`], so the fast test and the
    /// interval agree to the bit.
    #[inline(always)]
    fn approx_eps(&self, s: f64, n: f64, r: f64, dot: i32) -> (f64, f64) {
        // `self.scale * s` is exact (two 24-bit significands); one rounding.
        let approx = self.scale * s * f64::from(dot);
        let eps = (self.per_norm * n
            + self.per_residual * r
            + self.underflow
            + approx.abs() * APPROX_SLACK)
            * (1.0 + EPS_SLACK);
        let trusted = eps < f64::INFINITY && self.norm * (n + r) < OVERFLOW_GUARD;
        (approx, if trusted { eps } else { f64::INFINITY })
    }

    /// The interval `[lo, hi]` that contains the `f32` scan's score of the
    /// row with metadata `m` whose codes have integer dot product `dot` with
    /// the query's codes. `(-inf, +inf)` when the bound cannot be trusted
    /// (rows or queries near `f32::MAX`).
    #[inline]
    pub(crate) fn interval(&self, m: RowMeta, dot: i32) -> (f64, f64) {
        let (approx, eps) = self.approx_eps(
            f64::from(m.scale),
            f64::from(m.norm),
            f64::from(m.residual),
            dot,
        );
        if eps == f64::INFINITY {
            (f64::NEG_INFINITY, f64::INFINITY)
        } else {
            (approx - eps, approx + eps)
        }
    }

    /// `out[i]` = the upper end of the interval of row `i` of the block
    /// (branch-free, so it vectorizes; `+inf` for untrusted rows, as in
    /// [`Self::interval`]).
    #[inline]
    pub(crate) fn uppers(&self, b: &BlockMeta, dots: &[i32], out: &mut [f64]) {
        let m = dots.len();
        let (s, n, r, out) = (&b.scale[..m], &b.norm[..m], &b.residual[..m], &mut out[..m]);
        for i in 0..m {
            let (approx, eps) = self.approx_eps(s[i], n[i], r[i], dots[i]);
            out[i] = approx + eps;
        }
    }
}

impl QueryBound {
    /// [`Self::uppers`] for a block of `rows` read straight from their
    /// metadata: one query meets each block once, so widening the block's
    /// metadata into a [`BlockMeta`] first would cost a store and a load
    /// per field for nothing. Same formula, so the same bits.
    #[inline]
    pub(crate) fn uppers_of_rows(
        &self,
        meta: &[RowMeta],
        rows: &[usize],
        dots: &[i32],
        out: &mut [f64],
    ) {
        let out = &mut out[..rows.len()];
        for ((o, &r), &d) in out.iter_mut().zip(rows).zip(dots) {
            let m = meta[r];
            let (approx, eps) = self.approx_eps(
                f64::from(m.scale),
                f64::from(m.norm),
                f64::from(m.residual),
                d,
            );
            *o = approx + eps;
        }
    }
}

/// Whether `score` lies in `[lo, hi]`; an unbounded interval admits every
/// value, NaN included (the `f32` scan itself may overflow there).
pub(crate) fn contains(lo: f64, hi: f64, score: f32) -> bool {
    if lo == f64::NEG_INFINITY && hi == f64::INFINITY {
        return true;
    }
    let s = f64::from(score);
    lo <= s && s <= hi
}
