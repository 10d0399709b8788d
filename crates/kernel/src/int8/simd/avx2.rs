//! The AVX2 int8 path: `vpsignb` moves the query's sign onto the row
//! (`c·sign(a)`), so `vpmaddubsw` can multiply `|a|` (unsigned) by it. Each
//! pair of products is at most `2 · 127² = 32258`, below `i16::MAX`, so the
//! saturating `vpmaddubsw` never saturates (codes are never -128);
//! `vpmaddwd` with ones then widens to `i32` lanes. Exact.

use std::arch::x86_64::*;

use super::{Int8Impl, shape_ok};

static IMPL: Int8Impl = Int8Impl {
    name: "avx2",
    dot,
    dot_rows,
    dot_rows_batch,
};

/// The AVX2 int8 path, if this CPU has AVX2. This check is the only way to
/// reach the functions below, which is what makes their `unsafe` sound.
pub(crate) fn get() -> Option<&'static Int8Impl> {
    is_x86_feature_detected!("avx2").then_some(&IMPL)
}

const L: usize = 32;
/// Queries scored per pass over one row in the batch path.
const TILE_Q: usize = 4;

/// Sum of the eight `i32` lanes (wrapping, so exact modulo 2³²).
#[inline]
#[target_feature(enable = "avx2")]
fn hsum(v: __m256i) -> i32 {
    let s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256::<1>(v));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b01_00_11_10>(s));
    let s = _mm_add_epi32(s, _mm_shuffle_epi32::<0b10_11_00_01>(s));
    _mm_cvtsi128_si32(s)
}

/// Dot products of `Q` queries with one row.
///
/// # Safety
/// The CPU has AVX2; every `q[j]` and `r` point to `dim` readable bytes.
#[inline]
#[target_feature(enable = "avx2")]
unsafe fn tile<const Q: usize>(q: [*const i8; Q], r: *const i8, dim: usize) -> [i32; Q] {
    let ones = _mm256_set1_epi16(1);
    let mut acc = [_mm256_setzero_si256(); Q];
    let full = dim / L * L;
    let mut i = 0;
    while i < full {
        // SAFETY: i + 32 <= dim, so the loads stay inside the row and queries.
        let vr = unsafe { _mm256_loadu_si256(r.add(i).cast()) };
        for j in 0..Q {
            // SAFETY: as above.
            let vq = unsafe { _mm256_loadu_si256(q[j].add(i).cast()) };
            let p = _mm256_maddubs_epi16(_mm256_abs_epi8(vq), _mm256_sign_epi8(vr, vq));
            acc[j] = _mm256_add_epi32(acc[j], _mm256_madd_epi16(p, ones));
        }
        i += L;
    }
    let mut out = [0i32; Q];
    for j in 0..Q {
        let mut s = hsum(acc[j]);
        for t in full..dim {
            // SAFETY: t < dim.
            let (a, b) = unsafe { (*q[j].add(t), *r.add(t)) };
            s = s.wrapping_add(i32::from(a) * i32::from(b));
        }
        out[j] = s;
    }
    out
}

fn dot(a: &[i8], b: &[i8]) -> i32 {
    assert_eq!(a.len(), b.len());
    // SAFETY: get() checked AVX2; both slices hold a.len() bytes.
    unsafe { tile::<1>([a.as_ptr()], b.as_ptr(), a.len())[0] }
}

fn dot_rows(q: &[i8], codes: &[i8], dim: usize, rows: &[usize], out: &mut [i32]) {
    assert!(q.len() == dim && shape_ok(q, codes, dim, rows, out));
    for (o, &r) in out.iter_mut().zip(rows) {
        // SAFETY: get() checked AVX2; shape_ok checked r is a whole row.
        *o = unsafe { tile::<1>([q.as_ptr()], codes.as_ptr().add(r * dim), dim)[0] };
    }
}

fn dot_rows_batch(qs: &[i8], codes: &[i8], dim: usize, rows: &[usize], out: &mut [i32]) {
    assert!(shape_ok(qs, codes, dim, rows, out));
    let nq = qs.len() / dim;
    let m = rows.len();
    for (i, &r) in rows.iter().enumerate() {
        // SAFETY: shape_ok checked r is a whole row.
        let row = unsafe { codes.as_ptr().add(r * dim) };
        let mut q0 = 0;
        while q0 + TILE_Q <= nq {
            let ptrs: [*const i8; TILE_Q] = std::array::from_fn(|j| qs[(q0 + j) * dim..].as_ptr());
            // SAFETY: get() checked AVX2; each query holds dim bytes.
            let d = unsafe { tile::<TILE_Q>(ptrs, row, dim) };
            for j in 0..TILE_Q {
                out[(q0 + j) * m + i] = d[j];
            }
            q0 += TILE_Q;
        }
        for q in q0..nq {
            // SAFETY: as above.
            out[q * m + i] = unsafe { tile::<1>([qs[q * dim..].as_ptr()], row, dim)[0] };
        }
    }
}
