//! The portable int8 path: safe Rust in fixed-width chunks that LLVM
//! vectorizes (`pmaddwd` on SSE2, `smlal` on NEON).

use super::{Int8Impl, shape_ok};

pub(crate) static IMPL: Int8Impl = Int8Impl {
    name: "portable",
    dot,
    dot_rows,
    dot_rows_batch,
};

const L: usize = 32;

/// Exact `Σ a_i b_i` (wrapping `i32` lanes; exact for `dim <= INT8_MAX_DIM`).
pub(crate) fn dot(a: &[i8], b: &[i8]) -> i32 {
    assert_eq!(a.len(), b.len());
    let (af, at) = a.as_chunks::<L>();
    let (bf, bt) = b.as_chunks::<L>();
    let mut acc = [0i32; L];
    for (x, y) in af.iter().zip(bf) {
        for j in 0..L {
            acc[j] = acc[j].wrapping_add(i32::from(x[j]) * i32::from(y[j]));
        }
    }
    let mut sum = acc.iter().fold(0i32, |s, &v| s.wrapping_add(v));
    for (&x, &y) in at.iter().zip(bt) {
        sum = sum.wrapping_add(i32::from(x) * i32::from(y));
    }
    sum
}

fn dot_rows(q: &[i8], codes: &[i8], dim: usize, rows: &[usize], out: &mut [i32]) {
    assert!(q.len() == dim && shape_ok(q, codes, dim, rows, out));
    for (o, &r) in out.iter_mut().zip(rows) {
        *o = dot(q, &codes[r * dim..(r + 1) * dim]);
    }
}

fn dot_rows_batch(qs: &[i8], codes: &[i8], dim: usize, rows: &[usize], out: &mut [i32]) {
    assert!(shape_ok(qs, codes, dim, rows, out));
    let m = rows.len();
    for (i, &r) in rows.iter().enumerate() {
        let row = &codes[r * dim..(r + 1) * dim];
        for (qi, q) in qs.chunks_exact(dim).enumerate() {
            out[qi * m + i] = dot(q, row);
        }
    }
}
