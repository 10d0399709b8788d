//! Per-row symmetric int8 quantization with a rigorous error bound, and the
//! [`Int8Rows`] container the store keeps instead of an `f32` matrix.
//!
//! A row `x` becomes a scale `s` (an `f32`), codes `c_i` in `[-127, 127]`
//! (never -128, so negating a code is safe) and two upper bounds, both
//! computed in `f64` and rounded up to `f32`: `norm >= ||s·c||` and
//! `residual >= ||x - s·c||`. Only the bounds must be rigorous: any codes
//! would do (a bad code only widens the bound), so the codes are computed in
//! fast `f32` arithmetic and the bounds are then measured against exactly
//! the `s` and `c` that are stored.

use crate::KernelError;

/// The largest dimension the int8 scan accepts: the integer dot product of
/// two code vectors is at most `127 * 127 * dim` in magnitude, which must
/// fit an `i32` (`127² · 133_143 < 2³¹`). Every tier accumulates in `i32`
/// lanes with wrapping adds, so the result is exact whenever the true value
/// fits, whatever the order. The store's own limit (`MAX_DIMENSION` = 65536)
/// is below this.
pub const INT8_MAX_DIM: usize = 133_143;

/// What the bound needs to know about one quantized row (12 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RowMeta {
    /// The scale `s`: the row is approximated by `s · codes`. Zero for an
    /// all-zero row (or one too tiny for any `f32` scale).
    pub scale: f32,
    /// An upper bound on `||s · codes||₂` (may be `+inf` for rows near
    /// `f32::MAX`; the bound then admits every score).
    pub norm: f32,
    /// An upper bound on the residual norm `||x - s · codes||₂`.
    pub residual: f32,
}

/// Rounds a non-negative `f64` up to an `f32` that is `>=` it (`+inf` when it
/// exceeds `f32::MAX`).
pub(crate) fn f32_up(v: f64) -> f32 {
    let f = v as f32;
    if (f as f64) < v { f.next_up() } else { f }
}

/// `sqrt(sum)` where `sum` was accumulated in `f64` over `terms` squares:
/// inflated so that it bounds the true value despite the `f64` rounding of
/// the squares, the sum (`γ_terms` in `f64`) and the square root.
pub(crate) fn sqrt_up(sum: f64, terms: usize) -> f64 {
    let rel = (terms as f64 + 4.0) * f64::EPSILON;
    (sum * (1.0 + rel)).sqrt() * (1.0 + 2.0 * f64::EPSILON)
}

/// Adding this to an `f32` in `[-2²², 2²²]` rounds it to the nearest
/// integer (ties to even) in plain `f32` arithmetic, which vectorizes
/// (`f32::round` is a libm call on the SSE2 baseline).
const ROUND_MAGIC: f32 = 12_582_912.0; // 1.5 · 2²³
/// The bits of [`ROUND_MAGIC`]: `bits(ROUND_MAGIC + n) - ROUND_MAGIC_BITS = n`.
const ROUND_MAGIC_BITS: i32 = 0x4B40_0000;

/// Lanes of the quantizer's reductions: independent accumulators, so the
/// loops vectorize (a single float accumulator cannot be reordered).
const Q_LANES: usize = 16;

/// The largest `|x_i|` (`x` finite).
#[inline(always)]
fn max_abs(x: &[f32]) -> f32 {
    let (full, rest) = x.as_chunks::<Q_LANES>();
    let mut m = [0.0f32; Q_LANES];
    for c in full {
        for j in 0..Q_LANES {
            let a = c[j].abs();
            m[j] = if a > m[j] { a } else { m[j] };
        }
    }
    let tail = rest.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    m.iter().fold(tail, |a, &b| a.max(b))
}

/// `(Σ (x_i - s·c_i)², Σ c_i²)`, the first in `f64` (each term is exact up
/// to one rounding of the subtraction and one of the square), the second
/// exact in `i32` (at most `127² · dim`).
#[inline(always)]
fn residual_sums(x: &[f32], codes: &[i8], s: f64) -> (f64, i32) {
    let (xf, xt) = x.as_chunks::<Q_LANES>();
    let (cf, ct) = codes.as_chunks::<Q_LANES>();
    let mut res = [0.0f64; Q_LANES];
    let mut cc = [0i32; Q_LANES];
    for (xc, cc_) in xf.iter().zip(cf) {
        for j in 0..Q_LANES {
            let c = f64::from(cc_[j]);
            let r = f64::from(xc[j]) - s * c;
            res[j] += r * r;
            cc[j] += i32::from(cc_[j]) * i32::from(cc_[j]);
        }
    }
    let mut total: f64 = res.iter().sum();
    let mut ctotal: i32 = cc.iter().sum();
    for (&v, &c) in xt.iter().zip(ct) {
        let r = f64::from(v) - s * f64::from(c);
        total += r * r;
        ctotal += i32::from(c) * i32::from(c);
    }
    (total, ctotal)
}

/// Quantizes `x` into `codes` (same length) and returns its [`RowMeta`].
/// `x` must be finite (checked by the callers) and at most
/// [`INT8_MAX_DIM`] long. Runs the fastest tier this CPU has; every tier
/// gives bit-identical codes and metadata (see [`super::quantize_tiers`]).
pub(crate) fn quantize_into(x: &[f32], codes: &mut [i8]) -> RowMeta {
    let mut meta = [RowMeta::default()];
    (super::quantize_tiers::best().f32_rows)(x, x.len(), codes, &mut meta);
    meta[0]
}

/// The quantizer itself, for one row: inlined into each tier's clone of
/// [`f32_rows`] and [`le_rows`], whose target features let the compiler
/// widen its loops. Only IEEE operations whose results do not depend on
/// the vector width appear here (no fused multiply-add: Rust never
/// contracts `a * b + c`), and every reduction runs over a fixed number of
/// lanes in a fixed order, so each tier computes the same bits.
#[inline(always)]
pub(crate) fn quantize_row(x: &[f32], codes: &mut [i8]) -> RowMeta {
    debug_assert_eq!(x.len(), codes.len());
    let maxabs = max_abs(x);
    // In f64 so that it neither overflows nor loses the subnormal range.
    let scale = (f64::from(maxabs) / 127.0) as f32;
    let inv = 1.0 / f64::from(scale);
    if scale == 0.0 || !inv.is_finite() {
        // All zero, or so tiny that the scale underflows: codes of zero are
        // still a valid approximation; the residual is then the whole row.
        codes.fill(0);
        let sum: f64 = x.iter().map(|&v| f64::from(v) * f64::from(v)).sum();
        return RowMeta {
            scale: 0.0,
            norm: 0.0,
            residual: f32_up(sqrt_up(sum, x.len())),
        };
    }
    let inv32 = inv as f32;
    if inv32.is_normal() {
        for (c, &v) in codes.iter_mut().zip(x) {
            let t = (v * inv32).clamp(-127.0, 127.0);
            // `t + 1.5·2²³` has ulp 1: its low significand bits are the
            // rounded integer, read without a (saturating, scalar) float
            // to int conversion.
            *c = ((t + ROUND_MAGIC).to_bits() as i32 - ROUND_MAGIC_BITS) as i8;
        }
    } else {
        // The reciprocal of a subnormal scale overflows f32: use f64.
        for (c, &v) in codes.iter_mut().zip(x) {
            *c = (f64::from(v) * inv).round().clamp(-127.0, 127.0) as i8;
        }
    }
    // The bounds, against exactly the stored scale and codes. `s · c` is
    // exact in f64 (24 + 8 bits), so the only roundings are those of the
    // subtraction, the squares and the sum, which `sqrt_up` covers (with
    // one more unit for the subtraction).
    let s = f64::from(scale);
    let (res, cc) = residual_sums(x, codes, s);
    let res = sqrt_up(res * (1.0 + 2.0 * f64::EPSILON), x.len());
    // ||c||² is an exact integer; only the sqrt and product round.
    let norm = s * f64::from(cc).sqrt() * (1.0 + 4.0 * f64::EPSILON);
    RowMeta {
        scale,
        norm: f32_up(norm),
        residual: f32_up(res),
    }
}

/// One thread's share of [`Int8Rows::extend_from_le_bytes`]: the
/// `index`-th run of rows, its bytes and where its codes and metadata go.
struct LoadJob<'a> {
    index: usize,
    bytes: &'a [u8],
    codes: &'a mut [i8],
    meta: &'a mut [RowMeta],
}

/// Quantizes the rows of `rows` (finite, whole rows of `dim`) into `codes`
/// and `meta` (one per row): the body every tier of
/// [`super::quantize_tiers`] compiles with its own target features.
#[inline(always)]
pub(crate) fn f32_rows(rows: &[f32], dim: usize, codes: &mut [i8], meta: &mut [RowMeta]) {
    for ((x, c), m) in rows
        .chunks_exact(dim)
        .zip(codes.chunks_exact_mut(dim))
        .zip(meta.iter_mut())
    {
        *m = quantize_row(x, c);
    }
}

/// Quantizes the little-endian rows of `bytes` into `codes` and `meta`
/// (as many rows as `meta` holds); on a non-finite float, its index in
/// `bytes` (in floats). Each row is decoded into a buffer that stays in L1
/// cache, so the quantizer's passes over it do not touch memory again.
#[inline(always)]
pub(crate) fn le_rows(
    bytes: &[u8],
    dim: usize,
    codes: &mut [i8],
    meta: &mut [RowMeta],
) -> Result<(), usize> {
    let mut row = vec![0.0f32; dim];
    for (r, ((b, c), m)) in bytes
        .chunks_exact(4 * dim)
        .zip(codes.chunks_exact_mut(dim))
        .zip(meta.iter_mut())
        .enumerate()
    {
        // Decode and test finiteness in one pass; the position is only
        // looked for once a row is known to be bad.
        let mut finite = true;
        for (x, f) in row.iter_mut().zip(b.as_chunks::<4>().0) {
            *x = f32::from_le_bytes(*f);
            finite &= x.is_finite();
        }
        if !finite {
            let i = row.iter().position(|v| !v.is_finite()).unwrap_or(0);
            return Err(r * dim + i);
        }
        *m = quantize_row(&row, c);
    }
    Ok(())
}

/// The first non-finite component of `x`, as the kernel's error.
pub(crate) fn check_finite(x: &[f32]) -> Result<(), KernelError> {
    match x.iter().position(|v| !v.is_finite()) {
        Some(index) => Err(KernelError::NonFinite { index }),
        None => Ok(()),
    }
}

/// Rows quantized to int8: `dim` codes and one [`RowMeta`] per row, in the
/// order they were pushed. This is what a store keeps resident instead of
/// the `f32` matrix (`dim + 12` bytes per row instead of `4 · dim`); the
/// `f32` rows stay the source of truth and are fetched only to rescore
/// (see [`crate::Kernel::int8_top_k`]).
///
/// Like the `f32` matrix it replaces, it holds every row, live or dead, in
/// row order; the caller masks dead rows with a [`crate::RowFilter`].
#[derive(Debug, Clone, PartialEq)]
pub struct Int8Rows {
    dim: usize,
    codes: Vec<i8>,
    meta: Vec<RowMeta>,
}

impl Int8Rows {
    /// An empty set of rows of dimension `dim`.
    ///
    /// Errors: [`KernelError::ZeroDimension`]; [`KernelError::DimensionMismatch`]
    /// (with `expected` = [`INT8_MAX_DIM`]) if `dim` is larger than that.
    pub fn new(dim: usize) -> Result<Self, KernelError> {
        if dim == 0 {
            return Err(KernelError::ZeroDimension);
        }
        if dim > INT8_MAX_DIM {
            return Err(KernelError::DimensionMismatch {
                expected: INT8_MAX_DIM,
                got: dim,
            });
        }
        Ok(Int8Rows {
            dim,
            codes: Vec::new(),
            meta: Vec::new(),
        })
    }

    /// The dimension of every row.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The number of rows.
    pub fn len(&self) -> usize {
        self.meta.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.meta.is_empty()
    }

    /// Quantizes `row` and appends it.
    ///
    /// Errors (nothing is appended): [`KernelError::DimensionMismatch`],
    /// [`KernelError::NonFinite`].
    pub fn push(&mut self, row: &[f32]) -> Result<(), KernelError> {
        self.extend_from_f32(row).map_err(|e| match e {
            KernelError::MatrixShape { len, dim } => KernelError::DimensionMismatch {
                expected: dim,
                got: len,
            },
            e => e,
        })
    }

    /// Quantizes every row of `rows` (row-major, whole rows of `dim`) and
    /// appends them in order.
    ///
    /// Errors (nothing is appended): [`KernelError::MatrixShape`],
    /// [`KernelError::NonFinite`] (`index` counts from the start of `rows`).
    pub fn extend_from_f32(&mut self, rows: &[f32]) -> Result<(), KernelError> {
        if !rows.len().is_multiple_of(self.dim) {
            return Err(KernelError::MatrixShape {
                len: rows.len(),
                dim: self.dim,
            });
        }
        check_finite(rows)?;
        let n = rows.len() / self.dim;
        let (start, first) = (self.codes.len(), self.meta.len());
        self.codes.resize(start + rows.len(), 0);
        self.meta.resize(first + n, RowMeta::default());
        (super::quantize_tiers::best().f32_rows)(
            rows,
            self.dim,
            &mut self.codes[start..],
            &mut self.meta[first..],
        );
        Ok(())
    }

    /// Quantizes the rows stored in `bytes` (little-endian `f32`s, whole
    /// rows of `dim`, as in a data file's vector block) and appends them in
    /// order, without building an `f32` copy: what a store in int8 mode
    /// does while it loads. `threads` as [`crate::ScanOptions::threads`]
    /// (0 = the cores available); blocks under
    /// [`crate::PARALLEL_MIN_FLOATS`] floats use the calling thread alone.
    /// The result does not depend on the thread count.
    ///
    /// Errors (nothing is appended): [`KernelError::MatrixShape`] (`len` in
    /// bytes) when `bytes` is not whole rows; [`KernelError::NonFinite`]
    /// (`index` counts floats from the start of `bytes`).
    pub fn extend_from_le_bytes(
        &mut self,
        bytes: &[u8],
        threads: usize,
    ) -> Result<(), KernelError> {
        let dim = self.dim;
        if !bytes.len().is_multiple_of(4 * dim) {
            return Err(KernelError::MatrixShape {
                len: bytes.len(),
                dim,
            });
        }
        let n = bytes.len() / (4 * dim);
        let start = self.len();
        let threads = match threads {
            0 => crate::scan::default_threads(),
            t => t,
        };
        let parts = if n * dim < crate::PARALLEL_MIN_FLOATS {
            1
        } else {
            threads.clamp(1, crate::scan::MAX_THREADS).min(n)
        };
        if parts <= 1 {
            return self.extend_le_in_chunks(bytes);
        }
        self.codes.resize((start + n) * dim, 0);
        self.meta.resize(start + n, RowMeta::default());
        let per = n.div_ceil(parts.max(1)).max(1);
        let codes = self.codes[start * dim..].chunks_mut(per * dim);
        let meta = self.meta[start..].chunks_mut(per);
        let src = bytes.chunks(per * dim * 4);
        let le_rows = super::quantize_tiers::best().le_rows;
        let work = |job: LoadJob<'_>| {
            le_rows(job.bytes, dim, job.codes, job.meta).map_err(|i| i + job.index * per * dim)
        };
        let jobs: Vec<LoadJob<'_>> = codes
            .zip(meta)
            .zip(src)
            .enumerate()
            .map(|(index, ((codes, meta), bytes))| LoadJob {
                index,
                bytes,
                codes,
                meta,
            })
            .collect();
        let result: Result<(), usize> = if jobs.len() <= 1 {
            jobs.into_iter().try_for_each(work)
        } else {
            std::thread::scope(|scope| {
                let mut jobs = jobs.into_iter();
                let first = jobs.next();
                let handles: Vec<_> = jobs.map(|j| scope.spawn(move || work(j))).collect();
                let mut r = first.map_or(Ok(()), work);
                for h in handles {
                    let other = h.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
                    // Report the first bad float of the block, whichever
                    // thread saw it.
                    r = match (r, other) {
                        (Err(a), Err(b)) => Err(a.min(b)),
                        (Err(a), _) | (_, Err(a)) => Err(a),
                        _ => Ok(()),
                    };
                }
                r
            })
        };
        if let Err(index) = result {
            self.truncate(start);
            return Err(KernelError::NonFinite { index });
        }
        Ok(())
    }

    /// [`Int8Rows::extend_from_le_bytes`] on the calling thread, a chunk of
    /// rows at a time: each chunk's codes are zero-filled just before the
    /// quantizer overwrites them, so the fill costs a write to cache
    /// instead of a whole extra pass over fresh memory.
    fn extend_le_in_chunks(&mut self, bytes: &[u8]) -> Result<(), KernelError> {
        /// About 100 KiB of codes at dimension 384: stays in L2 cache.
        const CHUNK_FLOATS: usize = 96 * 1024;
        let dim = self.dim;
        let start = self.len();
        let le_rows = super::quantize_tiers::best().le_rows;
        let rows_per_chunk = (CHUNK_FLOATS / dim).max(1);
        for (c, chunk) in bytes.chunks(rows_per_chunk * dim * 4).enumerate() {
            let (at, rows) = (self.len(), chunk.len() / (4 * dim));
            self.codes.resize((at + rows) * dim, 0);
            self.meta.resize(at + rows, RowMeta::default());
            let done = le_rows(
                chunk,
                dim,
                &mut self.codes[at * dim..],
                &mut self.meta[at..],
            );
            if let Err(i) = done {
                self.truncate(start);
                return Err(KernelError::NonFinite {
                    index: c * rows_per_chunk * dim + i,
                });
            }
        }
        Ok(())
    }

    /// Keeps the first `n` rows (no-op if there are fewer): rolls back rows
    /// appended after a failed write.
    pub fn truncate(&mut self, n: usize) {
        if n < self.len() {
            self.meta.truncate(n);
            self.codes.truncate(n * self.dim);
        }
    }

    /// Removes every row (keeps the allocation).
    pub fn clear(&mut self) {
        self.meta.clear();
        self.codes.clear();
    }

    /// Reserves room for `additional` more rows.
    pub fn reserve(&mut self, additional: usize) {
        self.codes.reserve(additional.saturating_mul(self.dim));
        self.meta.reserve(additional);
    }

    /// Bytes allocated on the heap (capacity, not length): what this
    /// container keeps resident.
    pub fn heap_bytes(&self) -> usize {
        self.codes.capacity() + self.meta.capacity() * std::mem::size_of::<RowMeta>()
    }

    /// The codes of row `row`. Panics if `row >= len()`.
    pub fn codes(&self, row: usize) -> &[i8] {
        &self.codes[row * self.dim..(row + 1) * self.dim]
    }

    /// The scale and bounds of row `row`. Panics if `row >= len()`.
    pub fn meta(&self, row: usize) -> RowMeta {
        self.meta[row]
    }

    /// All codes, row-major.
    pub(crate) fn all_codes(&self) -> &[i8] {
        &self.codes
    }

    /// All metadata, in row order.
    pub(crate) fn all_meta(&self) -> &[RowMeta] {
        &self.meta
    }
}
