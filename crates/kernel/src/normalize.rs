//! Scaling vectors to unit length.

use crate::KernelError;

/// How far from 1 the squared norm of a vector may be for the vector to
/// count as normalized already: 2^-22, twice the worst case that
/// normalization's own rounding leaves (SPEC.md §5.6 derives it).
///
/// [`normalize`] leaves a vector within it unchanged, bit for bit, and
/// every vector it writes is within it, so normalizing its own output
/// changes nothing. It is the unit-norm tolerance of the format's content
/// rules (`nidus_format::UNIT_NORM_TOLERANCE`); the kernel does not depend
/// on the format crate, so the constant is defined in both, and nidus-store
/// (which depends on both) asserts at compile time that they are equal.
pub const UNIT_NORM_TOLERANCE: f64 = 1.0 / 4_194_304.0;

/// Scales `v` to unit length in place, so that dot products of normalized
/// vectors are cosine similarities.
///
/// The squared norm is accumulated in `f64`, which cannot overflow or lose
/// tiny (subnormal) inputs for any `f32` vector, so every vector with a
/// finite, non-zero component normalizes. If it is already within
/// [`UNIT_NORM_TOLERANCE`] of 1, `v` is left exactly as it is: normalizing
/// is a fixed point on its own output, and a stored vector written back
/// keeps its bits. Otherwise each result component is the input times
/// `1/norm`, rounded once to `f32`, and the result's squared norm is within
/// [`UNIT_NORM_TOLERANCE`] of 1. The summation order is fixed (the one
/// SPEC.md §5.6 prescribes for the content rules), so the same input
/// always gives the same bits, on every tier and machine, and the store's
/// reader judges a vector with the very sum computed here.
///
/// Errors, leaving `v` unchanged: [`KernelError::NonFinite`] if a component
/// is NaN or infinite (naming the first), [`KernelError::ZeroVector`] if
/// every component is zero or `v` is empty.
pub fn normalize(v: &mut [f32]) -> Result<(), KernelError> {
    if let Scale::By(inv) = scale(v)? {
        for x in v.iter_mut() {
            *x = (f64::from(*x) * inv) as f32;
        }
    }
    Ok(())
}

/// Appends the unit-length version of `v` to `out`: the same bits
/// [`normalize`] would leave in a copy of `v`, without the copy.
///
/// Errors as [`normalize`]; `out` is then unchanged.
pub fn normalize_append(v: &[f32], out: &mut Vec<f32>) -> Result<(), KernelError> {
    match scale(v)? {
        Scale::Keep => out.extend_from_slice(v),
        Scale::By(inv) => out.extend(v.iter().map(|&x| (f64::from(x) * inv) as f32)),
    }
    Ok(())
}

/// Writes the unit-length version of `v` into `out` (of the same length):
/// the same bits [`normalize`] would leave in a copy of `v`.
///
/// Errors as [`normalize`], and with [`KernelError::DimensionMismatch`] if
/// the lengths differ; `out` is then unchanged.
pub fn normalize_into_slice(v: &[f32], out: &mut [f32]) -> Result<(), KernelError> {
    if v.len() != out.len() {
        return Err(KernelError::DimensionMismatch {
            expected: out.len(),
            got: v.len(),
        });
    }
    match scale(v)? {
        Scale::Keep => out.copy_from_slice(v),
        Scale::By(inv) => {
            for (o, &x) in out.iter_mut().zip(v) {
                *o = (f64::from(x) * inv) as f32;
            }
        }
    }
    Ok(())
}

/// What normalizing a vector takes.
enum Scale {
    /// It is of unit norm already: keep its bits.
    Keep,
    /// Multiply every component by this (`1 / |v|`).
    By(f64),
}

/// How to normalize `v`, checking in the same pass that it is finite and
/// not zero.
fn scale(v: &[f32]) -> Result<Scale, KernelError> {
    let sum_sq = sum_of_squares(v);
    if !sum_sq.is_finite()
        && let Some(index) = v.iter().position(|x| !x.is_finite())
    {
        return Err(KernelError::NonFinite { index });
    }
    if sum_sq == 0.0 {
        return Err(KernelError::ZeroVector);
    }
    // The same test, on the same sum, as the format's content rule: what
    // is kept here is exactly what a reader accepts.
    if (sum_sq - 1.0).abs() <= UNIT_NORM_TOLERANCE {
        return Ok(Scale::Keep);
    }
    Ok(Scale::By(1.0 / sum_sq.sqrt()))
}

/// The squared norm of `v` in f64, in the evaluation order SPEC.md §5.6
/// fixes (and `nidus_format::sum_of_squares` follows).
fn sum_of_squares(v: &[f32]) -> f64 {
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
    sum_sq
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::Rng;

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

    /// A component in [-1, 1) times `scale`, sometimes exactly zero.
    fn component(rng: &mut Rng, scale: f32) -> f32 {
        if rng.next_u64().is_multiple_of(17) {
            return 0.0;
        }
        rng.f32() * scale
    }

    fn bits(v: &[f32]) -> Vec<u32> {
        v.iter().map(|x| x.to_bits()).collect()
    }

    /// Dimensions 1..=64 (every partial group of eight), then common and
    /// large ones up to 4096.
    fn dims() -> impl Iterator<Item = usize> {
        (1..=64).chain([100, 383, 384, 768, 1000, 1536, 4095, 4096])
    }

    #[test]
    fn every_output_is_of_unit_norm_within_the_tolerance_and_a_fixed_point() {
        let mut rng = Rng::new(0x5EED_1234_ABCD_0001);
        // Huge, ordinary, tiny and subnormal magnitudes.
        let scales = [f32::MAX, 1e30, 3.0, 1.0, 1e-3, 1e-30, 1e-38, 1e-44];
        let mut checked = 0;
        for dim in dims() {
            let trials = if dim <= 64 { 24 } else { 4 };
            for t in 0..trials {
                let scale = scales[t % scales.len()];
                let v: Vec<f32> = (0..dim).map(|_| component(&mut rng, scale)).collect();
                let mut once = v.clone();
                if normalize(&mut once).is_err() {
                    continue; // all zero (a subnormal scale can underflow)
                }
                let s = sum_of_squares(&once);
                assert!(
                    (s - 1.0).abs() <= UNIT_NORM_TOLERANCE,
                    "dim {dim}, scale {scale}: squared norm {s}"
                );
                let mut twice = once.clone();
                normalize(&mut twice).unwrap();
                assert_eq!(bits(&twice), bits(&once), "dim {dim}, scale {scale}");
                let mut into = Vec::new();
                normalize_append(&once, &mut into).unwrap();
                assert_eq!(bits(&into), bits(&once));
                let mut to = vec![0.0; dim];
                normalize_into_slice(&once, &mut to).unwrap();
                assert_eq!(bits(&to), bits(&once));
                checked += 1;
            }
        }
        assert!(checked > 1500, "only {checked} vectors normalized");
    }

    #[test]
    fn a_vector_within_the_tolerance_is_kept_and_one_outside_is_rescaled() {
        // Two f32 ulps under 1 (the spacing is 2^-24 there): squared norm
        // 1 - 2^-22 + 2^-46, inside; kept bit for bit by all three.
        let inside = [f32::from_bits(1.0f32.to_bits() - 2)];
        let mut v = inside;
        normalize(&mut v).unwrap();
        assert_eq!(v[0].to_bits(), inside[0].to_bits());
        let mut out = Vec::new();
        normalize_append(&inside, &mut out).unwrap();
        assert_eq!(out[0].to_bits(), inside[0].to_bits());
        // One ulp over 1: squared norm 1 + 2^-22 + 2^-46, outside: rescaled
        // to exactly 1.
        let mut over = [f32::from_bits(1.0f32.to_bits() + 1)];
        normalize_into_slice(&over.clone(), &mut over).unwrap();
        assert_eq!(over, [1.0]);
        // A 384-d unit vector nudged by a few ulps in a few components
        // stays as it is.
        let mut rng = Rng::new(7);
        let mut unit: Vec<f32> = (0..384).map(|_| component(&mut rng, 1.0)).collect();
        normalize(&mut unit).unwrap();
        for i in [0, 17, 200, 383] {
            unit[i] = f32::from_bits(unit[i].to_bits() + 3);
        }
        let mut again = unit.clone();
        normalize(&mut again).unwrap();
        assert_eq!(bits(&again), bits(&unit));
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
            normalize_append(&v, &mut out).unwrap();
            assert_eq!(out[0].to_bits(), 7.0f32.to_bits());
            let bits = |s: &[f32]| s.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&out[1..]), bits(&in_place));
        }
        let mut out = vec![1.0f32];
        assert_eq!(
            normalize_append(&[0.0, f32::NAN], &mut out),
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
            normalize_into_slice(&v, &mut out).unwrap();
            let bits = |s: &[f32]| s.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&out), bits(&in_place));
        }
        let mut out = [5.0f32; 3];
        assert_eq!(
            normalize_into_slice(&[1.0, 2.0], &mut out),
            Err(KernelError::DimensionMismatch {
                expected: 3,
                got: 2
            })
        );
        assert_eq!(
            normalize_into_slice(&[0.0, 0.0, 0.0], &mut out),
            Err(KernelError::ZeroVector)
        );
        assert_eq!(out, [5.0; 3], "unchanged on error");
    }
}
