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
    /// `127 · Σ|a_i|`: no row's codes (each in `[-127, 127]`) have an
    /// integer dot product with the query's codes larger than this.
    dot_max: f64,
}

/// What the fast test of [`QueryBound::fast_cut`] needs of one scan block:
/// the rows' scales as `f32`, one array (so the test vectorizes), and the
/// block's largest scale, norm and residual bounds. Filled once per block
/// and shared by every query of a batch.
#[derive(Default)]
pub(crate) struct BlockMeta {
    pub(crate) scale32: Vec<f32>,
    max_scale: f64,
    max_norm: f64,
    max_residual: f64,
}

impl BlockMeta {
    pub(crate) fn fill(&mut self, meta: &[RowMeta], rows: &[usize]) {
        self.scale32.clear();
        let (mut ms, mut mn, mut mr) = (0f32, 0f32, 0f32);
        for &r in rows {
            let m = meta[r];
            self.scale32.push(m.scale);
            // Metadata is never NaN (finite rows; bounds rounded up to at
            // most +inf), so `max` sees every value.
            ms = ms.max(m.scale);
            mn = mn.max(m.norm);
            mr = mr.max(m.residual);
        }
        self.max_scale = f64::from(ms);
        self.max_norm = f64::from(mn);
        self.max_residual = f64::from(mr);
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
            scale: f64::from(meta.scale),
            per_norm: (f64::from(meta.residual) + gamma_norm) * (1.0 + EPS_SLACK),
            per_residual: (norm + gamma_norm) * (1.0 + EPS_SLACK),
            norm,
            // Each product may lose up to half the smallest subnormal
            // (2⁻¹⁵⁰) to underflow; additions of subnormals are exact.
            underflow: (dim + 32) as f64 * 2f64.powi(-148),
            dot_max: 127.0 * codes.iter().map(|&a| f64::from(a).abs()).sum::<f64>(),
            codes,
        }
    }

    /// `(approx, upper end)` for a row with scale `s`, norm bound `n`,
    /// residual bound `r` and integer dot `dot`. The single formula behind
    /// both [`Self::interval`] and [`Self::uppers_of_rows`], so the fast test and the
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
}

impl QueryBound {
    /// `out[i]` = the upper end of the interval of row `rows[i]` (the same
    /// formula as [`Self::interval`], so the same bits; branch-free, so it
    /// vectorizes; `+inf` for untrusted rows). The slow path, for blocks
    /// where [`Self::fast_cut`] does not apply.
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

impl QueryBound {
    /// A cut for the fast test of a block's rows against `thr`, or `None`
    /// where the test does not apply (then every row's upper end must be
    /// computed in full).
    ///
    /// The guarantee: for every row of `block` whose upper end (as
    /// [`Self::interval`] computes it, bit for bit) is `>= thr`, the `f32`
    /// product `p = (dot as f32) * scale` (one rounding each, never fused)
    /// is `>= ` the returned cut. So a row with `p < cut` is surely not a
    /// candidate, and only the few rows at or above the cut need their
    /// interval: a conversion, a multiply and a compare per (query, row)
    /// where the full bound takes about a dozen `f64` operations.
    ///
    /// Proof. Write `P = max_scale · dot_max >= |s·dot|` for every row of the
    /// block and `E = per_norm·max_norm + per_residual·max_residual`, which
    /// is `>=` each row's `per_norm·N + per_residual·R` (all factors are
    /// non-negative). The interval code computes `approx = (s_q·s)·dot`
    /// (`s_q·s` exact, one rounding), `eps <= (E + underflow +
    /// |approx|·2⁻⁵⁰)·(1 + 2⁻⁴⁰)·(1 + 2⁻⁵⁰)` and `hi = approx + eps` with one
    /// more rounding, so `hi <= s_q·s·dot + E·(1 + 2⁻³⁰) + 2·underflow +
    /// s_q·P·2⁻⁴⁰`. Hence `hi >= thr` implies `s·dot >= G / s_q` with
    /// `G = thr - E·(1 + 2⁻³⁰) - 2·underflow - s_q·P·2⁻⁴⁰` (`s_q > 0`).
    /// The `f32` product `p` rounds twice (the conversion of `dot`, exact
    /// below 2²⁴, and the multiply), each by at most `2⁻²⁴` relative, and
    /// an underflow loses at most `2⁻¹⁵⁰`: `p >= s·dot - 2⁻²²·P - 2⁻¹⁴⁹`.
    /// So `p >= G / s_q - 2⁻²¹·P - 2⁻¹⁴⁰`. The cut is that value, less a
    /// term `2⁻⁴⁵·(|thr| + 2E + 2·underflow + s_q·P) / s_q` that dominates
    /// the `f64` roundings made computing it (a handful, each at most
    /// `2⁻⁵³` of those magnitudes), rounded down to an `f32`.
    ///
    /// The test applies when every row of the block is trusted (finite
    /// interval: `Q·(max_norm + max_residual)` below the overflow guard),
    /// the query's scale is positive, and `P < 2¹⁰⁰`, so that `p` is finite
    /// (never NaN) for every row.
    pub(crate) fn fast_cut(&self, block: &BlockMeta, thr: f64) -> Option<f32> {
        if thr == f64::NEG_INFINITY {
            return Some(f32::NEG_INFINITY);
        }
        let p = block.max_scale * self.dot_max;
        let e = self.per_norm * block.max_norm + self.per_residual * block.max_residual;
        let usable = self.scale > 0.0
            && p < 2f64.powi(100)
            && e < f64::INFINITY
            && self.norm * (block.max_norm + block.max_residual) < OVERFLOW_GUARD
            && thr.is_finite();
        if !usable {
            return None;
        }
        let sq = self.scale;
        let g = thr - e * (1.0 + 2f64.powi(-30)) - 2.0 * self.underflow - sq * p * 2f64.powi(-40);
        let slack = 2f64.powi(-45) * (thr.abs() + 2.0 * e + 2.0 * self.underflow + sq * p) / sq;
        let cut = g / sq - p * 2f64.powi(-21) - 2f64.powi(-140) - slack;
        Some(f32_down(cut))
    }
}

/// The largest `f32` that is `<= v` (`-inf` below `-f32::MAX`, `f32::MAX`
/// above it: no finite `p` of the fast test is larger).
fn f32_down(v: f64) -> f32 {
    let f = v as f32;
    if f64::from(f) > v { f.next_down() } else { f }
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
