//! Scaling vectors to unit length.

use crate::KernelError;

/// Scales `v` to unit length in place, so that dot products of normalized
/// vectors are cosine similarities.
///
/// The norm is accumulated in `f64`, which cannot overflow or lose tiny
/// (subnormal) inputs for any `f32` vector, so every vector with a finite,
/// non-zero component normalizes; each result component is the input divided
/// by the norm, rounded once to `f32` (the result's norm is within a few
/// `f32` ulps of 1). The summation order is fixed, so the same input always
/// gives the same bits, on every tier and machine.
///
/// Errors, leaving `v` unchanged: [`KernelError::NonFinite`] if a component
/// is NaN or infinite (naming the first), [`KernelError::ZeroVector`] if
/// every component is zero or `v` is empty.
pub fn normalize(v: &mut [f32]) -> Result<(), KernelError> {
    let inv = inverse_norm(v)?;
    for x in v.iter_mut() {
        *x = (f64::from(*x) * inv) as f32;
    }
    Ok(())
}

/// Appends the unit-length version of `v` to `out`: the same bits
/// [`normalize`] would leave in a copy of `v`, without the copy.
///
/// Errors as [`normalize`]; `out` is then unchanged.
pub fn normalize_into(v: &[f32], out: &mut Vec<f32>) -> Result<(), KernelError> {
    let inv = inverse_norm(v)?;
    out.extend(v.iter().map(|&x| (f64::from(x) * inv) as f32));
    Ok(())
}

/// Writes the unit-length version of `v` into `out` (of the same length):
/// the same bits [`normalize`] would leave in a copy of `v`.
///
/// Errors as [`normalize`], and with [`KernelError::DimensionMismatch`] if
/// the lengths differ; `out` is then unchanged.
pub fn normalize_to(v: &[f32], out: &mut [f32]) -> Result<(), KernelError> {
    if v.len() != out.len() {
        return Err(KernelError::DimensionMismatch {
            expected: out.len(),
            got: v.len(),
        });
    }
    let inv = inverse_norm(v)?;
    for (o, &x) in out.iter_mut().zip(v) {
        *o = (f64::from(x) * inv) as f32;
    }
    Ok(())
}

/// `1 / |v|`, checking in the same pass that `v` is finite and not zero.
fn inverse_norm(v: &[f32]) -> Result<f64, KernelError> {
    // Eight independent f64 accumulators: no loop-carried dependency, so the
    // compiler vectorizes; the lane order is fixed, so the result is
    // deterministic. The square of a finite f32 is far from overflowing
    // f64 (even summed 2^32 times), so the sum is finite exactly when every
    // component is: one pass both checks and measures.
    let mut lanes = [0f64; 8];
    let (chunks, rest) = v.as_chunks::<8>();
    for chunk in chunks {
        for (acc, &x) in lanes.iter_mut().zip(chunk) {
            *acc += f64::from(x) * f64::from(x);
        }
    }
    let mut sum_sq: f64 = lanes.iter().sum();
    for &x in rest {
        sum_sq += f64::from(x) * f64::from(x);
    }
    if !sum_sq.is_finite()
        && let Some(index) = v.iter().position(|x| !x.is_finite())
    {
        return Err(KernelError::NonFinite { index });
    }
    if sum_sq == 0.0 {
        return Err(KernelError::ZeroVector);
    }
    Ok(1.0 / sum_sq.sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(v: &[f32]) -> f64 {
        v.iter()
            .map(|&x| f64::from(x) * f64::from(x))
            .sum::<f64>()
            .sqrt()
    }

    #[test]
    fn unit_length_for_ordinary_huge_and_tiny_vectors() {
        for mut v in [
            vec![3.0f32, 4.0],
            vec![f32::MAX, f32::MAX, -f32::MAX],
            vec![f32::from_bits(1), 0.0, f32::from_bits(3)], // subnormals
            vec![-2.5; 1536],
            vec![0.0, 0.0, 7.0],
        ] {
            let before = v.clone();
            normalize(&mut v).unwrap();
            assert!((norm(&v) - 1.0).abs() < 1e-6, "{before:?} -> {v:?}");
            // Direction kept: signs match and ratios hold.
            for (a, b) in before.iter().zip(&v) {
                assert_eq!(
                    a.is_sign_negative() && *a != 0.0,
                    b.is_sign_negative() && *b != 0.0
                );
            }
        }
        let mut v = vec![3.0f32, 4.0];
        normalize(&mut v).unwrap();
        assert_eq!(v, vec![0.6, 0.8]);
    }

    #[test]
    fn rejects_zero_empty_nan_and_infinite_without_touching_input() {
        let mut z = vec![0.0f32, -0.0, 0.0];
        assert_eq!(normalize(&mut z), Err(KernelError::ZeroVector));
        assert_eq!(normalize(&mut []), Err(KernelError::ZeroVector));
        let mut v = vec![1.0f32, 2.0, f32::NAN, f32::INFINITY];
        assert_eq!(normalize(&mut v), Err(KernelError::NonFinite { index: 2 }));
        assert_eq!(&v[..2], &[1.0, 2.0]);
        let mut v = vec![f32::NEG_INFINITY, 1.0];
        assert_eq!(normalize(&mut v), Err(KernelError::NonFinite { index: 0 }));
    }

    #[test]
    fn normalize_into_appends_the_bits_normalize_leaves() {
        for v in [
            vec![3.0f32, 4.0],
            (0..383).map(|i| (i as f32).sin() * 1e3).collect(),
        ] {
            let mut in_place = v.clone();
            normalize(&mut in_place).unwrap();
            let mut out = vec![7.0f32];
            normalize_into(&v, &mut out).unwrap();
            assert_eq!(out[0].to_bits(), 7.0f32.to_bits());
            let bits = |s: &[f32]| s.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&out[1..]), bits(&in_place));
        }
        let mut out = vec![1.0f32];
        assert_eq!(
            normalize_into(&[0.0, f32::NAN], &mut out),
            Err(KernelError::NonFinite { index: 1 })
        );
        assert_eq!(out, vec![1.0]);
    }

    #[test]
    fn normalize_to_writes_the_bits_normalize_leaves_and_checks_lengths() {
        for v in [
            vec![3.0f32, 4.0],
            (0..383).map(|i| (i as f32).cos() * 1e-3).collect(),
        ] {
            let mut in_place = v.clone();
            normalize(&mut in_place).unwrap();
            let mut out = vec![9.0f32; v.len()];
            normalize_to(&v, &mut out).unwrap();
            let bits = |s: &[f32]| s.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&out), bits(&in_place));
        }
        let mut out = [5.0f32; 3];
        assert_eq!(
            normalize_to(&[1.0, 2.0], &mut out),
            Err(KernelError::DimensionMismatch {
                expected: 3,
                got: 2
            })
        );
        assert_eq!(
            normalize_to(&[0.0, 0.0, 0.0], &mut out),
            Err(KernelError::ZeroVector)
        );
        assert_eq!(out, [5.0; 3], "unchanged on error");
    }
}
