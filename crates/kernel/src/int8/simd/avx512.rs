//! The AVX-512 VNNI int8 path. `vpdpbusd` multiplies unsigned bytes by
//! signed bytes and adds groups of four into `i32` lanes, without
//! saturation. The row's codes are made unsigned by flipping their top bit
//! (`c + 128`, in `[1, 255]`) and the query's stay signed, so one
//! instruction serves every query a row meets; the offset is removed at the
//! end by subtracting `128 · Σ a_i` (a per-query constant). All adds wrap,
//! and the true dot product fits an `i32`, so the result is exact even
//! where a partial sum of the offset products would not fit. Tails are
//! zero-masked loads: a masked row byte becomes 128 but meets a query byte
//! of 0.

use std::arch::x86_64::*;

use super::{Int8Impl, shape_ok};

static IMPL: Int8Impl = Int8Impl {
    name: "avx512-vnni",
    dot,
    dot_rows,
    dot_rows_batch,
};

/// The VNNI path, if this CPU has AVX-512F, BW and VNNI (and AVX2). This
/// check is the only way to reach the functions below, which is what makes
/// their `unsafe` sound.
pub(crate) fn get() -> Option<&'static Int8Impl> {
    (is_x86_feature_detected!("avx512f")
        && is_x86_feature_detected!("avx512bw")
        && is_x86_feature_detected!("avx512vnni")
        && is_x86_feature_detected!("avx2"))
    .then_some(&IMPL)
}

const L: usize = 64;
/// Queries scored per pass over one row in the batch path.
const TILE_Q: usize = 8;

/// `Σ a_i`, wrapping.
fn code_sum(a: &[i8]) -> i32 {
    a.iter().fold(0i32, |s, &v| s.wrapping_add(i32::from(v)))
}

/// Dot products of `Q` queries (with code sums `qsum`) with one row.
///
/// # Safety
/// The CPU has AVX-512F/BW/VNNI; every `q[j]` and `r` point to `dim`
/// readable bytes.
#[inline]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni,avx2")]
unsafe fn tile<const Q: usize>(
    q: [*const i8; Q],
    qsum: [i32; Q],
    r: *const i8,
    dim: usize,
) -> [i32; Q] {
    let flip = _mm512_set1_epi8(i8::MIN);
    let mut acc = [_mm512_setzero_si512(); Q];
    let full = dim / L * L;
    let mut i = 0;
    while i < full {
        // SAFETY: i + 64 <= dim, so the loads stay inside the row and queries.
        let vr = _mm512_xor_si512(unsafe { _mm512_loadu_si512(r.add(i).cast()) }, flip);
        for j in 0..Q {
            // SAFETY: as above.
            let vq = unsafe { _mm512_loadu_si512(q[j].add(i).cast()) };
            acc[j] = _mm512_dpbusd_epi32(acc[j], vr, vq);
        }
        i += L;
    }
    if full < dim {
        let mask: __mmask64 = (1u64 << (dim - full)) - 1;
        // SAFETY: the mask only reads bytes below dim (masked lanes are not
        // accessed and cannot fault).
        let vr = _mm512_xor_si512(unsafe { _mm512_maskz_loadu_epi8(mask, r.add(full)) }, flip);
        for j in 0..Q {
            // SAFETY: as above.
            let vq = unsafe { _mm512_maskz_loadu_epi8(mask, q[j].add(full)) };
            acc[j] = _mm512_dpbusd_epi32(acc[j], vr, vq);
        }
    }
    let mut out = [0i32; Q];
    for j in 0..Q {
        out[j] = _mm512_reduce_add_epi32(acc[j]).wrapping_sub(qsum[j].wrapping_mul(128));
    }
    out
}

fn dot(a: &[i8], b: &[i8]) -> i32 {
    assert_eq!(a.len(), b.len());
    // SAFETY: get() checked the features; both slices hold a.len() bytes.
    unsafe { tile::<1>([a.as_ptr()], [code_sum(a)], b.as_ptr(), a.len())[0] }
}

fn dot_rows(q: &[i8], codes: &[i8], dim: usize, rows: &[usize], out: &mut [i32]) {
    assert!(q.len() == dim && shape_ok(q, codes, dim, rows, out));
    let qs = code_sum(q);
    for (o, &r) in out.iter_mut().zip(rows) {
        // SAFETY: get() checked the features; shape_ok checked r is a whole row.
        *o = unsafe { tile::<1>([q.as_ptr()], [qs], codes.as_ptr().add(r * dim), dim)[0] };
    }
}

fn dot_rows_batch(qs: &[i8], codes: &[i8], dim: usize, rows: &[usize], out: &mut [i32]) {
    assert!(shape_ok(qs, codes, dim, rows, out));
    let nq = qs.len() / dim;
    let m = rows.len();
    let sums: Vec<i32> = qs.chunks_exact(dim).map(code_sum).collect();
    for (i, &r) in rows.iter().enumerate() {
        // SAFETY: shape_ok checked r is a whole row.
        let row = unsafe { codes.as_ptr().add(r * dim) };
        let mut q0 = 0;
        while q0 + TILE_Q <= nq {
            let ptrs: [*const i8; TILE_Q] = std::array::from_fn(|j| qs[(q0 + j) * dim..].as_ptr());
            let s: [i32; TILE_Q] = std::array::from_fn(|j| sums[q0 + j]);
            // SAFETY: get() checked the features; each query holds dim bytes.
            let d = unsafe { tile::<TILE_Q>(ptrs, s, row, dim) };
            for j in 0..TILE_Q {
                out[(q0 + j) * m + i] = d[j];
            }
            q0 += TILE_Q;
        }
        for q in q0..nq {
            // SAFETY: as above.
            out[q * m + i] = unsafe { tile::<1>([qs[q * dim..].as_ptr()], [sums[q]], row, dim)[0] };
        }
    }
}
