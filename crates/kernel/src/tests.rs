//! Cross-tier tests: every tier this machine has, the portable path and an
//! `f64` scalar reference agree on seeded random inputs of awkward shapes;
//! within a tier, dot / single scan / batch scan / thread counts agree to
//! the bit. Heavier shapes are `#[ignore]`d (run them with
//! `cargo test --release -p nidus-kernel -- --ignored`).

use std::collections::HashSet;

use crate::select::rank;
use crate::simd::Impl;
use crate::{Kernel, KernelError, RowFilter, RowHit, ScanOptions, Tier, scan};

/// xorshift64*: deterministic, dependency-free. The same generator and
/// seeding as `nidus_testkit::Rng::new`, copied on purpose: these unit
/// tests are compiled inside nidus-kernel, and the testkit depends on
/// nidus-store, which depends on nidus-kernel, so a dev-dependency on it
/// would link a second copy of the kernel into this test binary.
///
/// Shared by every unit-test module of the kernel (`crate::tests::Rng`).
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in [-1, 1).
    pub(crate) fn f32(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 23) as f32 - 1.0
    }
    pub(crate) fn vec(&mut self, len: usize) -> Vec<f32> {
        (0..len).map(|_| self.f32()).collect()
    }
    /// Uniform in `0..n` (n > 0).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
    /// A unit vector of `d` components (e_0 if the draw was all zero).
    pub(crate) fn unit(&mut self, d: usize) -> Vec<f32> {
        let mut v = self.vec(d);
        if crate::normalize(&mut v).is_err() {
            v = vec![0.0; d];
            v[0] = 1.0;
        }
        v
    }
}

const DIMS: [usize; 15] = [
    1, 2, 3, 7, 15, 16, 17, 31, 33, 383, 384, 385, 1536, 1537, 3072,
];

fn kernels() -> Vec<Kernel> {
    let tiers = Tier::available();
    if !tiers.contains(&Tier::Avx512) {
        eprintln!("note: AVX-512 is not available on this CPU; the avx512 tier is not exercised");
    }
    tiers.into_iter().filter_map(Kernel::new).collect()
}

fn imp(k: &Kernel) -> &'static Impl {
    k.imp
}

/// Exact dot product in f64 and the error bound allowed for an f32 kernel:
/// `(d + 2) * eps * Σ|a_i b_i|` (the classic bound for recursive summation,
/// which also covers the pairwise/lane trees the tiers use).
fn reference(a: &[f32], b: &[f32]) -> (f64, f64) {
    let mut s = 0.0f64;
    let mut abs = 0.0f64;
    for (&x, &y) in a.iter().zip(b) {
        let p = f64::from(x) * f64::from(y);
        s += p;
        abs += p.abs();
    }
    (
        s,
        (a.len() as f64 + 2.0) * f64::from(f32::EPSILON) * abs + 1e-30,
    )
}

fn bits(hits: &[RowHit]) -> Vec<(u32, usize)> {
    hits.iter().map(|h| (h.score.to_bits(), h.row)).collect()
}

/// Checks `hits` against the f64 reference for `query`: the right number of
/// results, every score within tolerance of its row's exact dot product,
/// sorted by the result order, only allowed rows, and no row left out that
/// is clearly better than the last one returned.
fn check(
    what: &str,
    hits: &[RowHit],
    query: &[f32],
    matrix: &[f32],
    dim: usize,
    opts: &ScanOptions<'_>,
) {
    let n = matrix.len() / dim;
    let refs: Vec<(f64, f64)> = matrix.chunks(dim).map(|r| reference(query, r)).collect();
    let allowed = |r: usize| opts.filter.as_ref().is_none_or(|f| f.allows(r));
    let m = opts.min_score.map(f64::from);
    let sure = (0..n)
        .filter(|&r| allowed(r) && m.is_none_or(|m| refs[r].0 >= m + refs[r].1))
        .count();
    let maybe = (0..n)
        .filter(|&r| allowed(r) && m.is_none_or(|m| refs[r].0 >= m - refs[r].1))
        .count();
    assert!(
        hits.len() >= opts.k.min(sure) && hits.len() <= opts.k.min(maybe),
        "{what}: {} hits, want {} (k={}, n={n})",
        hits.len(),
        opts.k.min(sure),
        opts.k
    );
    let mut seen = HashSet::new();
    for h in hits {
        assert!(
            h.row < n && allowed(h.row),
            "{what}: row {} not allowed",
            h.row
        );
        assert!(seen.insert(h.row), "{what}: row {} twice", h.row);
        let (exact, tol) = refs[h.row];
        assert!(
            (f64::from(h.score) - exact).abs() <= tol,
            "{what}: row {} score {} vs exact {exact} (tol {tol})",
            h.row,
            h.score
        );
        if let Some(m) = opts.min_score {
            assert!(h.score >= m, "{what}: score {} below min {m}", h.score);
        }
    }
    for w in hits.windows(2) {
        assert_eq!(
            rank(&w[0], &w[1]),
            std::cmp::Ordering::Less,
            "{what}: order {:?}",
            w
        );
    }
    if let (Some(last), true) = (hits.last(), hits.len() == opts.k) {
        let (last_exact, last_tol) = refs[last.row];
        for r in (0..n).filter(|&r| allowed(r) && !seen.contains(&r)) {
            assert!(
                refs[r].0 <= last_exact + last_tol + refs[r].1,
                "{what}: row {r} (exact {}) left out but beats the last hit {:?}",
                refs[r].0,
                last
            );
        }
    }
}

#[test]
fn tiers_are_detected_consistently() {
    let tiers = Tier::available();
    assert_eq!(tiers.last(), Some(&Tier::Portable));
    assert_eq!(crate::best_tier(), tiers[0]);
    for t in Tier::ALL {
        assert_eq!(
            Kernel::new(t).map(|k| k.tier()),
            tiers.contains(&t).then_some(t)
        );
    }
    #[cfg(target_arch = "x86_64")]
    {
        let avx2 = is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma");
        assert_eq!(Tier::Avx2.is_available(), avx2);
        let avx512 = avx2 && is_x86_feature_detected!("avx512f");
        assert_eq!(Tier::Avx512.is_available(), avx512);
        if !avx512 {
            eprintln!(
                "note: AVX-512 is not available on this CPU; the avx512 tier is not exercised"
            );
        }
        assert!(!Tier::Neon.is_available());
    }
    if !Tier::Neon.is_available() {
        assert_eq!(
            crate::force_tier(Tier::Neon),
            Err(KernelError::TierUnavailable(Tier::Neon))
        );
    }
    // The switch: forcing the portable tier changes what the free functions
    // run; forcing the best tier again undoes it. (The only test that
    // touches the global switch; the others bind tiers with Kernel::new.)
    assert_eq!(crate::active_tier(), tiers[0]);
    crate::force_tier(Tier::Portable).unwrap();
    assert_eq!(crate::active_tier(), Tier::Portable);
    assert_eq!(Kernel::active().tier(), Tier::Portable);
    let (a, b) = ([0.5f32, 0.25, 2.0], [4.0f32, -8.0, 0.5]);
    assert_eq!(
        crate::dot(&a, &b),
        Kernel::new(Tier::Portable).unwrap().dot(&a, &b)
    );
    crate::force_tier(crate::best_tier()).unwrap();
    assert_eq!(crate::active_tier(), tiers[0]);
}

#[test]
fn errors_name_the_numbers_at_fault() {
    let cases = [
        (
            KernelError::DimensionMismatch {
                expected: 384,
                got: 383,
            },
            vec!["384", "383"],
        ),
        (
            KernelError::MatrixShape {
                len: 1000,
                dim: 384,
            },
            vec!["1000", "384"],
        ),
        (
            KernelError::QueriesShape { len: 770, dim: 384 },
            vec!["770", "384"],
        ),
        (KernelError::NonFinite { index: 17 }, vec!["17", "NaN"]),
        (KernelError::TierUnavailable(Tier::Avx512), vec!["avx512"]),
        (KernelError::ZeroDimension, vec!["0"]),
        (KernelError::ZeroVector, vec!["zero"]),
        (KernelError::InvalidMinScore, vec!["min_score"]),
    ];
    for (e, words) in cases {
        let msg = e.to_string();
        for w in words {
            assert!(msg.contains(w), "{msg:?} lacks {w:?}");
        }
        let _: &dyn std::error::Error = &e;
    }
}

#[test]
fn tier_names_round_trip() {
    for t in Tier::ALL {
        assert_eq!(t.name().parse::<Tier>(), Ok(t));
        assert_eq!(t.to_string().to_uppercase().parse::<Tier>(), Ok(t));
    }
    assert_eq!(
        "sse9".parse::<Tier>(),
        Err(KernelError::UnknownTier("sse9".to_owned()))
    );
    assert!(
        KernelError::UnknownTier("x".into())
            .to_string()
            .contains("avx2")
    );
}

#[test]
fn probes_report_positive_rates() {
    let data = Rng::new(9).vec(1 << 16);
    for kern in kernels() {
        let bw = kern.measure_read_bandwidth(&data, 2, 3);
        assert!(bw.is_finite() && bw > 0.0, "{}: {bw}", kern.tier());
        let peak = kern.measure_fma_peak(1, std::time::Duration::from_millis(1));
        assert!(peak.is_finite() && peak > 0.0, "{}: {peak}", kern.tier());
    }
    assert!(crate::measure_read_bandwidth(&[], 1, 1).is_finite());
}

#[test]
fn dot_matches_reference_on_every_tier_and_length() {
    let mut rng = Rng::new(1);
    let lens: Vec<usize> = (0..=70)
        .chain([127, 128, 129, 383, 384, 385, 1536])
        .collect();
    for k in kernels() {
        for &d in &lens {
            let a = rng.vec(d);
            let b = rng.vec(d);
            let (exact, tol) = reference(&a, &b);
            let got = k.dot(&a, &b);
            assert!(
                (f64::from(got) - exact).abs() <= tol,
                "{} d={d}: {got} vs {exact}",
                k.tier()
            );
            assert_eq!(k.try_dot(&a, &b), Ok(got));
        }
        assert_eq!(k.dot(&[], &[]), 0.0);
        assert_eq!(
            k.try_dot(&[1.0, 2.0], &[1.0]),
            Err(KernelError::DimensionMismatch {
                expected: 2,
                got: 1
            })
        );
    }
}

#[test]
fn top_k_matches_reference_on_awkward_shapes_every_tier() {
    let mut rng = Rng::new(2);
    for &dim in &DIMS {
        let big = match dim {
            ..=33 => 3000,
            34..=385 => 700,
            _ => 200,
        };
        let query = rng.vec(dim);
        for k_want in [0usize, 1, 5] {
            let mut ns = vec![0, 1, k_want.saturating_sub(1), k_want, k_want + 1];
            if k_want == 5 {
                ns.push(big); // several thousand rows: once per dimension
            }
            ns.dedup();
            for &n in &ns {
                let matrix = rng.vec(n * dim);
                for k in [k_want, n + 3] {
                    let opts = ScanOptions::top(k).threads(1);
                    for kern in kernels() {
                        let hits = kern.top_k(&query, &matrix, dim, &opts).unwrap();
                        check(
                            &format!("{} d={dim} n={n} k={k}", kern.tier()),
                            &hits,
                            &query,
                            &matrix,
                            dim,
                            &opts,
                        );
                        for h in &hits {
                            assert_eq!(
                                h.score.to_bits(),
                                kern.dot(&query, &matrix[h.row * dim..][..dim]).to_bits()
                            );
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn filters_and_min_score_every_tier() {
    let mut rng = Rng::new(3);
    for &(dim, n) in &[(3usize, 1000usize), (17, 777), (384, 300)] {
        let matrix = rng.vec(n * dim);
        let query = rng.vec(dim);
        let words = n.div_ceil(64);
        let nothing = vec![0u64; words];
        let everything = vec![!0u64; words];
        let every_other = vec![0x5555_5555_5555_5555u64; words];
        let short = vec![!0u64; words / 2]; // rows past the bitmap are not allowed
        let filters: [Option<&[u64]>; 5] = [
            None,
            Some(&nothing),
            Some(&everything),
            Some(&every_other),
            Some(&short),
        ];
        for f in filters {
            for min in [None, Some(0.0f32), Some(0.5)] {
                for k in [1usize, 10, n + 1] {
                    let mut opts = ScanOptions::top(k).threads(1);
                    opts.filter = f.map(RowFilter::new);
                    opts.min_score = min;
                    for kern in kernels() {
                        let hits = kern.top_k(&query, &matrix, dim, &opts).unwrap();
                        let what = format!(
                            "{} d={dim} n={n} k={k} min={min:?} filter={:?}",
                            kern.tier(),
                            opts.filter
                        );
                        check(&what, &hits, &query, &matrix, dim, &opts);
                        if f == Some(&nothing[..]) {
                            assert!(hits.is_empty(), "{what}");
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn duplicate_rows_tie_by_ascending_row() {
    let mut rng = Rng::new(4);
    for &dim in &[1usize, 16, 385] {
        let row = rng.vec(dim);
        let query = rng.vec(dim);
        // 200 identical rows, then a clearly better one, then more copies.
        let mut matrix = row.repeat(200);
        matrix.extend(query.iter().map(|x| x * 2.0));
        matrix.extend(row.repeat(50));
        let n = 251;
        for kern in kernels() {
            for threads in [1, 2] {
                let single = |k| {
                    scan::top_k(
                        imp(&kern),
                        &query,
                        &matrix,
                        dim,
                        &ScanOptions::top(k).threads(threads),
                        1,
                    )
                    .unwrap()
                };
                let hits = single(7);
                assert_eq!(hits[0].row, 200, "{}", kern.tier());
                let rows: Vec<usize> = hits[1..].iter().map(|h| h.row).collect();
                assert_eq!(
                    rows,
                    vec![0, 1, 2, 3, 4, 5],
                    "{} d={dim} threads={threads}",
                    kern.tier()
                );
                assert!(
                    hits[1..]
                        .iter()
                        .all(|h| h.score.to_bits() == hits[1].score.to_bits())
                );
                let all = single(n + 10);
                let rows: Vec<usize> = all[1..].iter().map(|h| h.row).collect();
                let want: Vec<usize> = (0..200).chain(201..n).collect();
                assert_eq!(rows, want);
            }
        }
    }
}

#[test]
fn nan_row_never_outranks_numbers() {
    let mut rng = Rng::new(5);
    let dim = 33;
    let n = 100;
    let mut matrix = rng.vec(n * dim);
    matrix[40 * dim + 7] = f32::NAN;
    let query = rng.vec(dim);
    for kern in kernels() {
        let hits = kern
            .top_k(&query, &matrix, dim, &ScanOptions::top(n - 1).threads(1))
            .unwrap();
        assert!(
            hits.iter().all(|h| h.row != 40 && !h.score.is_nan()),
            "{}",
            kern.tier()
        );
        let all = kern
            .top_k(&query, &matrix, dim, &ScanOptions::top(n))
            .unwrap();
        assert_eq!(all.len(), n);
        assert_eq!(all[n - 1].row, 40);
        assert!(all[n - 1].score.is_nan());
        let with_min = kern
            .top_k(
                &query,
                &matrix,
                dim,
                &ScanOptions::top(n).min_score(f32::NEG_INFINITY),
            )
            .unwrap();
        assert_eq!(with_min.len(), n - 1);
        let batch = kern
            .top_k_batch(&query, &matrix, dim, &ScanOptions::top(n))
            .unwrap();
        assert_eq!(bits(&batch[0]), bits(&all));
    }
}

/// Every query of a batch gets exactly what a single scan gives it, for
/// every tier, batch size (tile remainders), filter and thread count.
#[test]
fn batch_equals_single_and_threads_agree() {
    let mut rng = Rng::new(6);
    for &(dim, n) in &[
        (1usize, 500usize),
        (7, 301),
        (16, 130),
        (33, 257),
        (384, 150),
        (385, 64),
        (1536, 20),
        (1537, 13),
        (3072, 14),
    ] {
        let matrix = rng.vec(n * dim);
        let words = vec![0xF0F0_A5A5_0F0F_5A5Au64; n.div_ceil(64)];
        // 1 query (the single-scan path); 2 and 3 (narrow tiles, rows
        // read in place); 4 and 8 (whole tiles); 5, 6, 7 and 9 = full
        // tiles of 4 plus a remainder of 1, 2 or 3 queries (narrow tiles,
        // over the copied panel on AVX2).
        for nq in [1usize, 2, 3, 4, 5, 6, 7, 8, 9] {
            let queries = rng.vec(nq * dim);
            for (k, min, filter) in [
                (1, None, None),
                (10, None, Some(RowFilter::new(&words))),
                (n + 2, Some(-0.1f32), None),
            ] {
                for kern in kernels() {
                    let mut reference_batch = None;
                    for threads in [1usize, 2] {
                        let mut opts = ScanOptions::top(k).threads(threads);
                        opts.filter = filter;
                        opts.min_score = min;
                        let batch = scan::top_k_batch(imp(&kern), &queries, &matrix, dim, &opts, 1)
                            .unwrap();
                        assert_eq!(batch.len(), nq);
                        for (q, hits) in batch.iter().enumerate() {
                            let query = &queries[q * dim..][..dim];
                            let single =
                                scan::top_k(imp(&kern), query, &matrix, dim, &opts, 1).unwrap();
                            assert_eq!(
                                bits(hits),
                                bits(&single),
                                "{} d={dim} n={n} nq={nq} q={q} k={k} threads={threads}",
                                kern.tier()
                            );
                        }
                        let as_bits: Vec<_> = batch.iter().map(|h| bits(h)).collect();
                        match &reference_batch {
                            None => reference_batch = Some(as_bits),
                            Some(r) => assert_eq!(r, &as_bits, "{} threads={threads}", kern.tier()),
                        }
                    }
                    // And the batch agrees with the f64 reference.
                    let mut opts = ScanOptions::top(k);
                    opts.filter = filter;
                    opts.min_score = min;
                    let batch = kern.top_k_batch(&queries, &matrix, dim, &opts).unwrap();
                    for (q, hits) in batch.iter().enumerate() {
                        check(
                            &format!("batch {} d={dim}", kern.tier()),
                            hits,
                            &queries[q * dim..][..dim],
                            &matrix,
                            dim,
                            &opts,
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn arguments_are_checked() {
    let m = vec![0.5f32; 12];
    for kern in kernels() {
        let o = ScanOptions::top(3);
        assert_eq!(
            kern.top_k(&[1.0, 2.0], &m, 3, &o),
            Err(KernelError::DimensionMismatch {
                expected: 3,
                got: 2
            })
        );
        assert_eq!(kern.top_k(&[], &m, 0, &o), Err(KernelError::ZeroDimension));
        assert_eq!(
            kern.top_k(&[1.0; 5], &m, 5, &o),
            Err(KernelError::MatrixShape { len: 12, dim: 5 })
        );
        assert_eq!(
            kern.top_k_batch(&[1.0; 4], &m, 3, &o),
            Err(KernelError::QueriesShape { len: 4, dim: 3 })
        );
        assert_eq!(
            kern.top_k(&[1.0; 3], &m, 3, &o.clone().min_score(f32::NAN)),
            Err(KernelError::InvalidMinScore)
        );
        // Checked even when there is nothing to scan.
        assert!(kern.top_k(&[1.0; 2], &[], 3, &ScanOptions::top(0)).is_err());
        assert_eq!(kern.top_k(&[1.0; 3], &[], 3, &o), Ok(vec![]));
        assert_eq!(kern.top_k_batch(&[], &m, 3, &o), Ok(vec![]));
        assert_eq!(
            kern.top_k_batch(&[1.0; 6], &m, 3, &ScanOptions::top(0)),
            Ok(vec![vec![], vec![]])
        );
        // A huge k allocates for the rows that exist, not for k.
        assert_eq!(
            kern.top_k(&[1.0; 3], &m, 3, &ScanOptions::top(usize::MAX))
                .map(|h| h.len()),
            Ok(4)
        );
    }
}

#[test]
fn sum_probe_matches_reference_every_tier() {
    let mut rng = Rng::new(7);
    for len in [0usize, 1, 31, 32, 33, 1000, 4099] {
        let data = rng.vec(len);
        let exact: f64 = data.iter().map(|&x| f64::from(x)).sum();
        let tol = (len as f64 + 2.0)
            * f64::from(f32::EPSILON)
            * data.iter().map(|&x| f64::from(x.abs())).sum::<f64>()
            + 1e-30;
        for kern in kernels() {
            for threads in [1, 2] {
                let got = kern.sum(&data, threads);
                assert!(
                    (f64::from(got) - exact).abs() <= tol,
                    "{} len={len}: {got} vs {exact}",
                    kern.tier()
                );
            }
            let p = kern.fma_probe(1000, 1);
            assert!(p.is_finite() && p > 0.0);
            assert!(kern.fma_flops_per_iter() >= 16);
        }
    }
}

#[test]
#[ignore = "heavy: run with --release -- --ignored"]
fn heavy_top_k_and_batch_against_reference() {
    let mut rng = Rng::new(8);
    for &dim in &DIMS {
        let n = 20_000usize.min(8_000_000 / dim);
        let matrix = rng.vec(n * dim);
        let queries = rng.vec(16 * dim);
        let words = vec![0x5555_5555_5555_5555u64; n.div_ceil(64)];
        for kern in kernels() {
            for opts in [
                ScanOptions::top(10),
                ScanOptions::top(100).filter(RowFilter::new(&words)),
            ] {
                let batch = kern.top_k_batch(&queries, &matrix, dim, &opts).unwrap();
                for (q, hits) in batch.iter().enumerate() {
                    let query = &queries[q * dim..][..dim];
                    check(
                        &format!("heavy {} d={dim}", kern.tier()),
                        hits,
                        query,
                        &matrix,
                        dim,
                        &opts,
                    );
                    let single = kern.top_k(query, &matrix, dim, &opts).unwrap();
                    assert_eq!(bits(hits), bits(&single));
                    let one = kern
                        .top_k(query, &matrix, dim, &opts.clone().threads(1))
                        .unwrap();
                    assert_eq!(bits(&one), bits(&single));
                }
            }
        }
    }
}

/// The tiers' batch primitive gives every (query, row) pair exactly the
/// score `dot` gives it, for batches large enough to take the AVX2 copy of
/// misaligned row panels (matrix 4 bytes off a boundary, or a dimension
/// that is not a multiple of 8), with query remainders of 0-3, filtered
/// (non-contiguous) rows and a row repeated.
#[test]
fn batch_primitive_matches_dot_on_aligned_and_misaligned_rows() {
    let mut rng = Rng::new(9);
    for &(dim, n) in &[(7usize, 40usize), (16, 37), (33, 29), (384, 26), (385, 14)] {
        let backing = rng.vec(n * dim + 1);
        for offset in [0usize, 1] {
            let matrix = &backing[offset..offset + n * dim];
            let rows: Vec<usize> = (0..n).filter(|r| r % 3 != 1).chain([n - 1]).collect();
            for nq in [16usize, 17, 18, 19] {
                let queries = rng.vec(nq * dim);
                for kern in kernels() {
                    let mut out = vec![f32::NAN; nq * rows.len()];
                    (imp(&kern).score_rows_batch)(&queries, matrix, dim, &rows, &mut out);
                    for q in 0..nq {
                        for (i, &r) in rows.iter().enumerate() {
                            let want =
                                kern.dot(&queries[q * dim..][..dim], &matrix[r * dim..][..dim]);
                            assert_eq!(
                                out[q * rows.len() + i].to_bits(),
                                want.to_bits(),
                                "{} d={dim} offset={offset} nq={nq} q={q} row={r}",
                                kern.tier()
                            );
                        }
                    }
                }
            }
        }
    }
}

/// Every register-tile shape and tail of every tier's batch primitive
/// gives each (query, row) pair exactly the score `dot` gives it: query
/// counts 1-9 and 63-65 (every remainder of the query tiles, and the scan's
/// 64-query chunks), row counts that are no multiple of any tile width and
/// span several panels, every dimension from 1 to 33 (masked tails of both
/// lane widths) and the wide ones that the AVX-512 tier splits into
/// dimension blocks of at most 768 floats (383-385 and 768: one block; 769:
/// two, the second ending in a 1-float chunk; 1536, 3072: 2 and 4 whole
/// blocks; 1537: 3 blocks ending in a 1-float chunk).
#[test]
fn batch_primitive_tiles_and_tails_match_dot() {
    let mut rng = Rng::new(10);
    let few: &[usize] = &[1, 2, 3, 4, 5, 7, 9, 65];
    let many: Vec<usize> = (1..=9).chain([63, 64, 65]).collect();
    for dim in (1..=33).chain([383, 384, 385, 768, 769, 1536, 1537, 3072]) {
        let (n, nqs) = match dim {
            ..=33 => (61, &many[..]),
            34..=385 => (31, &many[..]),
            _ => (15, few),
        };
        let matrix = rng.vec(n * dim);
        // Skip some rows (not contiguous, as with a filter) and repeat the
        // last one; 41, 22 or 11 rows in all.
        let rows: Vec<usize> = (0..n).filter(|r| r % 3 != 1).chain([n - 1]).collect();
        for &nq in nqs {
            let queries = rng.vec(nq * dim);
            for kern in kernels() {
                let mut out = vec![f32::NAN; nq * rows.len()];
                (imp(&kern).score_rows_batch)(&queries, &matrix, dim, &rows, &mut out);
                for q in 0..nq {
                    let query = &queries[q * dim..][..dim];
                    for (i, &r) in rows.iter().enumerate() {
                        let want = kern.dot(query, &matrix[r * dim..][..dim]);
                        assert_eq!(
                            out[q * rows.len() + i].to_bits(),
                            want.to_bits(),
                            "{} d={dim} nq={nq} q={q} row={r}",
                            kern.tier()
                        );
                    }
                }
            }
        }
    }
}

/// Different lengths are a caller's bug: `dot` panics (it used to
/// return NaN, which ranked silently); `try_dot` is the checked form.
#[test]
#[should_panic(expected = "slices of different lengths")]
fn dot_panics_on_different_lengths() {
    Kernel::new(Tier::Portable)
        .unwrap()
        .dot(&[1.0, 2.0], &[1.0]);
}
