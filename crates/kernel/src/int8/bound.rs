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
    /// The query's second codes `a2`: its residual `q - s_q·a` quantized
    /// again, at scale `s_q / 256` (empty when `s_q` is 0). Used only for
    /// the candidates of phase 1 ([`Self::narrow`]).
    pub(crate) fine_codes: Vec<i8>,
    /// `R2 + γ_n·Q` (rounded up), `R2 >= ||q - s_q·a - (s_q/256)·a2||`: the
    /// factor of a row's `N` in the refined interval.
    fine_per_norm: f64,
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
        let (fine_codes, fine_residual) = fine_codes(q, &codes, f64::from(meta.scale));
        QueryBound {
            scale: f64::from(meta.scale),
            per_norm: (f64::from(meta.residual) + gamma_norm) * (1.0 + EPS_SLACK),
            per_residual: (norm + gamma_norm) * (1.0 + EPS_SLACK),
            norm,
            // Each product may lose up to half the smallest subnormal
            // (2⁻¹⁵⁰) to underflow; additions of subnormals are exact.
            underflow: (dim + 32) as f64 * 2f64.powi(-148),
            dot_max: 127.0 * codes.iter().map(|&a| f64::from(a).abs()).sum::<f64>(),
            fine_per_norm: (fine_residual + gamma_norm) * (1.0 + EPS_SLACK),
            fine_codes,
            codes,
        }
    }

    /// `(approx, upper end)` for a row with scale `s`, norm bound `n`,
    /// residual bound `r` and integer dot `dot`. The single formula behind
    /// both [`Self::interval`] and [`Self::uppers_of_rows`], so the fast test and the
    /// interval agree to the bit.
    #[inline(always)]
    fn approx_eps(&self, s: f64, n: f64, r: f64, dot: i32) -> (f64, f64) {
        self.approx_eps_at(self.scale, self.per_norm, s, n, r, f64::from(dot))
    }

    /// [`Self::approx_eps`] for a query scale `qscale` and norm factor
    /// `per_norm`, and an integer dot given as an exact `f64` (`|dot| <
    /// 2⁵³`), so that the refined interval uses the same formula.
    #[inline(always)]
    fn approx_eps_at(
        &self,
        qscale: f64,
        per_norm: f64,
        s: f64,
        n: f64,
        r: f64,
        dot: f64,
    ) -> (f64, f64) {
        // `qscale * s` is exact (two 24-bit significands, or one divided by
        // 256); one rounding.
        let approx = qscale * s * dot;
        let eps =
            (per_norm * n + self.per_residual * r + self.underflow + approx.abs() * APPROX_SLACK)
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

    /// The refined interval of a row whose codes have integer dots `dot`
    /// with the query's codes and `fine_dot` with its second codes: the
    /// interval of [`Self::interval`] with the query written as
    /// `s_q·a + (s_q/256)·a2 + r2`, so that `R2` (about `R_q / 256`)
    /// replaces `R_q`, intersected with the coarse interval `(lo, hi)` (as
    /// [`Self::interval`] gave it; both hold). With `D = 256·dot +
    /// fine_dot` (exact: `|D| < 2⁵³`), `q·x = (s_q/256)·s·D + r2·(s·c) +
    /// q·r_x`, and the rest of the proof is that of the coarse interval word
    /// for word.
    #[inline]
    pub(crate) fn narrow(
        &self,
        m: RowMeta,
        (lo, hi): (f64, f64),
        dot: i32,
        fine_dot: i32,
    ) -> (f64, f64) {
        if self.fine_codes.is_empty() || hi == f64::INFINITY {
            return (lo, hi);
        }
        let d = 256.0 * f64::from(dot) + f64::from(fine_dot);
        let (approx, eps) = self.approx_eps_at(
            self.scale / 256.0,
            self.fine_per_norm,
            f64::from(m.scale),
            f64::from(m.norm),
            f64::from(m.residual),
            d,
        );
        if eps == f64::INFINITY {
            return (lo, hi);
        }
        (lo.max(approx - eps), hi.min(approx + eps))
    }
}

/// The second codes of a query with codes `a` at scale `s_q`: its residual
/// `q - s_q·a` quantized at `s_q / 256` (clamped to `[-127, 127]`), and an
/// upper bound on what is left, `||q - s_q·a - (s_q/256)·a2||`. Empty codes
/// (and the bound `+inf`, never used) when `s_q` is 0.
///
/// The bound is computed in `f64` against exactly these codes: `s_q·a_i`
/// and `(s_q/256)·a2_i` are exact, and each of the two subtractions rounds
/// by at most `2⁻⁵³` of its result, which is at most `|q_i|` in magnitude
/// (`a_i = round(q_i / s_q)`, so `|q_i - s_q·a_i| <= |q_i|`); so each
/// component is off by at most `2⁻⁵¹·|q_i|` and the norm by at most
/// `2⁻⁵¹·||q||₁` (triangle inequality), which is added, with margin
/// (`2⁻⁵⁰`), after [`sqrt_up`] has covered the squares, the sum and the
/// root.
fn fine_codes(q: &[f32], codes: &[i8], scale: f64) -> (Vec<i8>, f64) {
    if scale == 0.0 {
        return (Vec::new(), f64::INFINITY);
    }
    let s2 = scale / 256.0;
    let mut fine = Vec::with_capacity(q.len());
    let (mut sum, mut l1) = (0.0f64, 0.0f64);
    for (&v, &a) in q.iter().zip(codes) {
        let v = f64::from(v);
        let r = v - scale * f64::from(a);
        let a2 = (r / s2).round().clamp(-127.0, 127.0);
        fine.push(a2 as i8);
        let left = r - s2 * a2;
        sum += left * left;
        l1 += v.abs();
    }
    let bound = sqrt_up(sum, q.len()) + l1 * 2f64.powi(-50);
    (fine, f64::from(f32_up(bound)))
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
