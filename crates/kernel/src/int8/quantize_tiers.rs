//! The quantizer compiled once per instruction-set tier. Each tier is the
//! same Rust source ([`super::quantize::f32_rows`] and
//! [`super::quantize::le_rows`], inlined) built with wider target
//! features, so the compiler widens its loops (16 `f32` or 8 `f64` lanes
//! with AVX-512 instead of SSE2's 4 and 2). The source uses no operation
//! whose result depends on the vector width and no fused multiply-add, and
//! its reductions have a fixed lane count and order, so every tier produces
//! bit-identical codes and metadata (the tests check this against the
//! portable tier). That matters beyond speed: a store re-quantizes rows it
//! reads back and compares them with what it loaded.

use super::quantize::{self, RowMeta};

/// `(rows, dim, codes, meta)` for whole `f32` rows.
pub(crate) type F32RowsFn = fn(&[f32], usize, &mut [i8], &mut [RowMeta]);

/// `(bytes, dim, codes, meta)` for little-endian rows; on a non-finite
/// float, its index (in floats).
pub(crate) type LeRowsFn = fn(&[u8], usize, &mut [i8], &mut [RowMeta]) -> Result<(), usize>;

/// One tier's quantizer.
pub(crate) struct Quantizer {
    /// A short name for tests (`"portable"`, `"avx2"`, `"avx512"`).
    #[cfg_attr(not(test), allow(dead_code))]
    pub(crate) name: &'static str,
    /// See [`quantize::f32_rows`].
    pub(crate) f32_rows: F32RowsFn,
    /// See [`quantize::le_rows`].
    pub(crate) le_rows: LeRowsFn,
}

/// The baseline build (SSE2 on x86-64), runs everywhere.
static PORTABLE: Quantizer = Quantizer {
    name: "portable",
    f32_rows: |rows, dim, codes, meta| quantize::f32_rows(rows, dim, codes, meta),
    le_rows: |bytes, dim, codes, meta| quantize::le_rows(bytes, dim, codes, meta),
};

/// The fastest quantizer this CPU runs (they all give the same bits).
pub(crate) fn best() -> &'static Quantizer {
    #[cfg(target_arch = "x86_64")]
    {
        if let Some(q) = x86::avx512() {
            return q;
        }
        if let Some(q) = x86::avx2() {
            return q;
        }
    }
    &PORTABLE
}

/// Every quantizer this machine can run, portable first (for the tests).
#[cfg(test)]
pub(crate) fn all_available() -> Vec<&'static Quantizer> {
    let mut v = vec![&PORTABLE];
    #[cfg(target_arch = "x86_64")]
    {
        v.extend(x86::avx2());
        v.extend(x86::avx512());
    }
    v
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{Quantizer, RowMeta, quantize};

    static AVX2: Quantizer = Quantizer {
        name: "avx2",
        f32_rows: avx2_f32_rows,
        le_rows: avx2_le_rows,
    };

    static AVX512: Quantizer = Quantizer {
        name: "avx512",
        f32_rows: avx512_f32_rows,
        le_rows: avx512_le_rows,
    };

    /// The AVX2 build, if this CPU has AVX2. This check is the only way to
    /// reach the `avx2_*` wrappers, which is what makes their `unsafe`
    /// sound.
    pub(super) fn avx2() -> Option<&'static Quantizer> {
        is_x86_feature_detected!("avx2").then_some(&AVX2)
    }

    /// The AVX-512 build, if this CPU has AVX-512F and BW (and AVX2). This
    /// check is the only way to reach the `avx512_*` wrappers.
    pub(super) fn avx512() -> Option<&'static Quantizer> {
        (is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512bw")
            && is_x86_feature_detected!("avx2"))
        .then_some(&AVX512)
    }

    // No "fma" among the features: Rust never contracts `a * b + c`
    // anyway, and leaving it out makes that plain.
    #[target_feature(enable = "avx2")]
    fn avx2_f32_rows_tf(rows: &[f32], dim: usize, codes: &mut [i8], meta: &mut [RowMeta]) {
        quantize::f32_rows(rows, dim, codes, meta)
    }

    #[target_feature(enable = "avx2")]
    fn avx2_le_rows_tf(
        bytes: &[u8],
        dim: usize,
        codes: &mut [i8],
        meta: &mut [RowMeta],
    ) -> Result<(), usize> {
        quantize::le_rows(bytes, dim, codes, meta)
    }

    #[target_feature(enable = "avx512f,avx512bw,avx2")]
    fn avx512_f32_rows_tf(rows: &[f32], dim: usize, codes: &mut [i8], meta: &mut [RowMeta]) {
        quantize::f32_rows(rows, dim, codes, meta)
    }

    #[target_feature(enable = "avx512f,avx512bw,avx2")]
    fn avx512_le_rows_tf(
        bytes: &[u8],
        dim: usize,
        codes: &mut [i8],
        meta: &mut [RowMeta],
    ) -> Result<(), usize> {
        quantize::le_rows(bytes, dim, codes, meta)
    }

    fn avx2_f32_rows(rows: &[f32], dim: usize, codes: &mut [i8], meta: &mut [RowMeta]) {
        // SAFETY: only reachable through `avx2()`, which checked that the
        // CPU has AVX2; the function is otherwise safe Rust.
        unsafe { avx2_f32_rows_tf(rows, dim, codes, meta) }
    }

    fn avx2_le_rows(
        bytes: &[u8],
        dim: usize,
        codes: &mut [i8],
        meta: &mut [RowMeta],
    ) -> Result<(), usize> {
        // SAFETY: only reachable through `avx2()`, which checked that the
        // CPU has AVX2; the function is otherwise safe Rust.
        unsafe { avx2_le_rows_tf(bytes, dim, codes, meta) }
    }

    fn avx512_f32_rows(rows: &[f32], dim: usize, codes: &mut [i8], meta: &mut [RowMeta]) {
        // SAFETY: only reachable through `avx512()`, which checked that the
        // CPU has AVX-512F, AVX-512BW and AVX2; the function is otherwise
        // safe Rust.
        unsafe { avx512_f32_rows_tf(rows, dim, codes, meta) }
    }

    fn avx512_le_rows(
        bytes: &[u8],
        dim: usize,
        codes: &mut [i8],
        meta: &mut [RowMeta],
    ) -> Result<(), usize> {
        // SAFETY: only reachable through `avx512()`, which checked that the
        // CPU has AVX-512F, AVX-512BW and AVX2; the function is otherwise
        // safe Rust.
        unsafe { avx512_le_rows_tf(bytes, dim, codes, meta) }
    }
}
