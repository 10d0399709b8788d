//! The two halves of SPEC.md §5.6 that live in different crates, checked
//! where both are visible: every vector the kernel's normalization writes
//! passes the format's content rules, and the rules accept exactly the
//! vectors normalization leaves unchanged (one tolerance, one sum).

use nidus_format::{VectorFault, check_vector, sum_of_squares};
use nidus_kernel::normalize;
use nidus_testkit::Rng;

/// In (-1, 1), sometimes exactly zero.
fn component(rng: &mut Rng) -> f32 {
    if rng.one_in(13) {
        return 0.0;
    }
    rng.unit_f32()
}

fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn the_two_tolerances_are_one_number() {
    // Also asserted at compile time in the store; this names the value.
    assert_eq!(nidus_format::UNIT_NORM_TOLERANCE, 2f64.powi(-22));
    assert_eq!(
        nidus_kernel::UNIT_NORM_TOLERANCE.to_bits(),
        nidus_format::UNIT_NORM_TOLERANCE.to_bits()
    );
}

#[test]
fn every_normalized_vector_passes_the_content_rules_for_every_dimension_to_4096() {
    let mut rng = Rng::new(0xC0_7E_A7_15);
    // Huge, ordinary, tiny and subnormal magnitudes, in turn.
    let scales = [f32::MAX, 3e25, 1.0, 7e-4, 1e-30, 1e-39, 1e-45];
    let mut worst = 0f64;
    for dim in 1..=4096usize {
        let trials = if dim <= 64 { 40 } else { 1 };
        for t in 0..trials {
            let scale = scales[(dim + t) % scales.len()];
            let mut v: Vec<f32> = (0..dim).map(|_| component(&mut rng) * scale).collect();
            if normalize(&mut v).is_err() {
                continue; // every component underflowed to zero
            }
            if let Err(fault) = check_vector(&v) {
                panic!("dim {dim}, scale {scale}: {fault}");
            }
            worst = worst.max((sum_of_squares(&v) - 1.0).abs());
        }
    }
    // The derived worst case (SPEC.md §5.6) is just over 2^-23.
    assert!(
        worst <= 2f64.powi(-23) * (1.0 + 2f64.powi(-12)),
        "{worst:e}"
    );
}

#[test]
fn the_rules_accept_exactly_what_normalization_keeps() {
    let mut rng = Rng::new(99);
    let (mut kept, mut moved) = (0, 0);
    for dim in [1usize, 2, 3, 7, 8, 9, 31, 384, 1536] {
        for _ in 0..300 {
            // A unit vector, then a few components moved by up to 40 ulps:
            // squared norms on both sides of 1 ± 2^-22.
            let mut v: Vec<f32> = (0..dim).map(|_| component(&mut rng)).collect();
            if normalize(&mut v).is_err() {
                continue;
            }
            for _ in 0..1 + rng.below(3) {
                let i = rng.below(dim);
                let step = rng.below(40) as u32;
                v[i] = if rng.one_in(2) {
                    f32::from_bits(v[i].to_bits() + step)
                } else {
                    f32::from_bits(v[i].to_bits().saturating_sub(step))
                };
            }
            let mut again = v.clone();
            normalize(&mut again).unwrap();
            let unchanged = bits(&again) == bits(&v);
            match check_vector(&v) {
                Ok(()) => {
                    assert!(unchanged, "dim {dim}: accepted but moved");
                    kept += 1;
                }
                Err(VectorFault::NotUnitNorm { .. }) => {
                    // Rescaled: the output differs (a vector off by more
                    // than 2^-22 cannot round back to itself) and passes.
                    assert!(!unchanged, "dim {dim}: refused but kept");
                    assert_eq!(check_vector(&again), Ok(()));
                    moved += 1;
                }
                Err(other) => panic!("dim {dim}: {other}"),
            }
        }
    }
    // Both sides of the boundary were met.
    assert!(kept > 100 && moved > 100, "kept {kept}, moved {moved}");
}
