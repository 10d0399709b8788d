//! The int8 search's promises: exact integer dots in every tier, bounds
//! that always contain the `f32` scan's score, and results identical to the
//! `f32` scan of the same tier (rows, scores to the bit, order) on data
//! built to make the bound useless (near-duplicates, tiny norm differences)
//! as well as on random and clustered data. 1M-row checks are `#[ignore]`d
//! (`cargo test --release -p nidus-kernel -- --ignored int8`).

use std::convert::Infallible;

use super::bound::QueryBound;
use super::quantize::quantize_into;
use super::simd::{Int8Impl, all_available};
use super::*;
use crate::tests::Rng;
use crate::{Kernel, RowFilter, ScanOptions, Tier, normalize};

fn kernels() -> Vec<Kernel> {
    Tier::available()
        .into_iter()
        .filter_map(Kernel::new)
        .collect()
}

fn quantized(matrix: &[f32], dim: usize) -> Int8Rows {
    let mut rows = Int8Rows::new(dim).unwrap();
    rows.extend_from_f32(matrix).unwrap();
    rows
}

// ---------------------------------------------------------------- data sets

fn random(n: usize, d: usize, seed: u64) -> Vec<f32> {
    let mut r = Rng::new(seed);
    (0..n).flat_map(|_| r.unit(d)).collect()
}

/// Tight clusters around a few centres.
fn clustered(n: usize, d: usize, seed: u64) -> Vec<f32> {
    let mut r = Rng::new(seed);
    let centres: Vec<Vec<f32>> = (0..8).map(|_| r.unit(d)).collect();
    (0..n)
        .flat_map(|_| {
            let c = &centres[r.below(centres.len())];
            let mut v: Vec<f32> = c.iter().map(|&x| x + 0.02 * r.f32()).collect();
            normalize(&mut v).unwrap();
            v
        })
        .collect()
}

/// Thousands of identical rows and rows one ulp apart in one component.
fn near_duplicates(n: usize, d: usize, seed: u64) -> Vec<f32> {
    let mut r = Rng::new(seed);
    let base = r.unit(d);
    (0..n)
        .flat_map(|_| {
            let mut v = base.clone();
            match r.below(3) {
                0 => {}
                1 => {
                    let j = r.below(d);
                    v[j] = v[j].next_up();
                }
                _ => {
                    let j = r.below(d);
                    v[j] = v[j].next_down();
                }
            }
            v
        })
        .collect()
}

/// One direction at lengths that differ by a few ulps.
fn tiny_norm_differences(n: usize, d: usize, seed: u64) -> Vec<f32> {
    let mut r = Rng::new(seed);
    let base = r.unit(d);
    (0..n)
        .flat_map(|_| {
            let f = 1.0 + (r.below(16) as f32) * f32::EPSILON;
            base.iter().map(|&x| x * f).collect::<Vec<_>>()
        })
        .collect()
}

// ------------------------------------------------------- integer dot products

fn dot_ref(a: &[i8], b: &[i8]) -> i32 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| i64::from(x) * i64::from(y))
        .sum::<i64>()
        .try_into()
        .unwrap()
}

const DOT_DIMS: [usize; 19] = [
    1, 3, 15, 16, 17, 31, 32, 33, 63, 64, 65, 127, 128, 129, 383, 384, 385, 1536, 4096,
];

fn code_vec(r: &mut Rng, d: usize, kind: usize) -> Vec<i8> {
    (0..d)
        .map(|i| match kind {
            0 => (r.below(255) as i32 - 127) as i8,
            1 => 127,
            2 => -127,
            _ => {
                if i % 2 == 0 {
                    127
                } else {
                    -127
                }
            }
        })
        .collect()
}

#[test]
fn every_int8_path_is_exact_at_every_shape() {
    let imps: Vec<&Int8Impl> = all_available();
    eprintln!(
        "int8 paths: {:?}",
        imps.iter().map(|i| i.name).collect::<Vec<_>>()
    );
    let mut r = Rng::new(7);
    for d in DOT_DIMS {
        for ka in 0..4 {
            for kb in 0..4 {
                let a = code_vec(&mut r, d, ka);
                let b = code_vec(&mut r, d, kb);
                let want = dot_ref(&a, &b);
                for imp in &imps {
                    assert_eq!((imp.dot)(&a, &b), want, "{} d={d} {ka}/{kb}", imp.name);
                }
            }
        }
    }
}

#[test]
fn row_and_batch_forms_equal_the_pair_dot() {
    let mut r = Rng::new(11);
    for d in [1usize, 17, 64, 100, 385] {
        let n = 37;
        // Random, all +127, all -127 and alternating rows and queries.
        let codes: Vec<i8> = (0..n).flat_map(|i| code_vec(&mut r, d, i % 4)).collect();
        let rows: Vec<usize> = (0..n).filter(|i| i % 3 != 1).collect();
        for nq in [1usize, 3, 4, 5, 8, 9, 17] {
            let qs: Vec<i8> = (0..nq)
                .flat_map(|q| code_vec(&mut r, d, (q + 1) % 4))
                .collect();
            for imp in all_available() {
                let mut out = vec![0i32; nq * rows.len()];
                (imp.dot_rows_batch)(&qs, &codes, d, &rows, &mut out);
                for (q, qc) in qs.chunks_exact(d).enumerate() {
                    let mut single = vec![0i32; rows.len()];
                    (imp.dot_rows)(qc, &codes, d, &rows, &mut single);
                    for (i, &row) in rows.iter().enumerate() {
                        let want = dot_ref(qc, &codes[row * d..(row + 1) * d]);
                        assert_eq!(single[i], want, "{} d={d}", imp.name);
                        assert_eq!(out[q * rows.len() + i], want, "{} d={d} nq={nq}", imp.name);
                    }
                }
            }
        }
    }
}

// ------------------------------------------------------------- quantization

/// `||x - s·c||` and `||s·c||` in f64 (more than accurate enough to check
/// bounds that carry a relative margin of ~1e-15 and are rounded up to f32).
fn actual_errors(x: &[f32], codes: &[i8], m: RowMeta) -> (f64, f64) {
    let s = f64::from(m.scale);
    let res: f64 = x
        .iter()
        .zip(codes)
        .map(|(&v, &c)| (f64::from(v) - s * f64::from(c)).powi(2))
        .sum();
    let norm: f64 = codes.iter().map(|&c| (s * f64::from(c)).powi(2)).sum();
    (res.sqrt(), norm.sqrt())
}

#[test]
fn extreme_rows_quantize_without_nan_or_overflowing_codes() {
    let tiny = f32::from_bits(1); // the smallest subnormal
    let cases: Vec<Vec<f32>> = vec![
        vec![0.0; 17],
        vec![f32::MAX; 17],
        vec![-f32::MAX, f32::MAX, 0.0, 1.0],
        vec![tiny; 5],
        vec![tiny, -tiny, 0.0],
        vec![f32::MIN_POSITIVE, -f32::MIN_POSITIVE / 3.0, tiny],
        vec![f32::MAX, tiny, -tiny, 1e-30],
        vec![1.0, 1e-40, -1e-45, 3.0e38],
        vec![-0.0; 3],
        vec![1.0],
        vec![-1.0],
    ];
    for x in cases {
        let mut c = vec![0i8; x.len()];
        let m = quantize_into(&x, &mut c);
        assert!(c.iter().all(|&v| v != i8::MIN), "{x:?} -> {c:?}");
        assert!(
            !m.scale.is_nan() && !m.norm.is_nan() && !m.residual.is_nan(),
            "{x:?} -> {m:?}"
        );
        assert!(
            m.scale.is_finite() && m.residual.is_finite(),
            "{x:?} -> {m:?}"
        );
        let (res, norm) = actual_errors(&x, &c, m);
        assert!(f64::from(m.residual) >= res, "{x:?}: {m:?} vs {res}");
        assert!(f64::from(m.norm) >= norm, "{x:?}: {m:?} vs {norm}");
    }
    // Non-finite rows are refused, and nothing is appended.
    let mut rows = Int8Rows::new(2).unwrap();
    rows.push(&[1.0, 0.0]).unwrap();
    assert_eq!(
        rows.extend_from_f32(&[0.5, 0.5, f32::NAN, 1.0]),
        Err(KernelError::NonFinite { index: 2 })
    );
    assert_eq!(
        rows.push(&[f32::INFINITY, 0.0]),
        Err(KernelError::NonFinite { index: 0 })
    );
    assert_eq!(
        rows.push(&[1.0]),
        Err(KernelError::DimensionMismatch {
            expected: 2,
            got: 1
        })
    );
    assert_eq!(rows.len(), 1);
}

#[test]
fn residual_and_norm_bound_random_rows() {
    let mut r = Rng::new(3);
    for d in [1usize, 3, 17, 384, 4096] {
        for scale in [1.0f32, 1e-30, 1e30, 1e-42] {
            let x: Vec<f32> = (0..d).map(|_| r.f32() * scale).collect();
            let mut c = vec![0i8; d];
            let m = quantize_into(&x, &mut c);
            let (res, norm) = actual_errors(&x, &c, m);
            assert!(f64::from(m.residual) >= res && f64::from(m.norm) >= norm);
            if scale == 1.0 && d > 1 {
                // A useful bound: about s/√12 per component.
                assert!(f64::from(m.residual) < f64::from(m.scale) * (d as f64).sqrt());
            }
        }
    }
}

#[test]
fn container_truncates_clears_and_counts_bytes() {
    let d = 5;
    let m = random(10, d, 1);
    let mut rows = Int8Rows::new(d).unwrap();
    rows.reserve(10);
    for row in m.chunks_exact(d) {
        rows.push(row).unwrap();
    }
    let all = quantized(&m, d);
    assert_eq!(rows.len(), 10);
    assert_eq!(rows.codes(3), all.codes(3));
    assert_eq!(rows.meta(9), all.meta(9));
    rows.truncate(4);
    assert_eq!(rows.len(), 4);
    assert_eq!(rows, quantized(&m[..4 * d], d));
    assert!(rows.heap_bytes() >= 4 * (d + 12));
    rows.clear();
    assert!(rows.is_empty());
    assert_eq!(Int8Rows::new(0), Err(KernelError::ZeroDimension));
    assert!(Int8Rows::new(INT8_MAX_DIM + 1).is_err());
    assert_eq!(std::mem::size_of::<RowMeta>(), 12);
}

#[test]
fn loading_from_le_bytes_equals_quantizing_floats_on_any_thread_count() {
    for (n, d) in [(3usize, 5usize), (700, 384)] {
        let m = random(n, d, 8);
        let bytes: Vec<u8> = m.iter().flat_map(|v| v.to_le_bytes()).collect();
        let want = quantized(&m, d);
        for threads in [1, 2, 3] {
            let mut rows = Int8Rows::new(d).unwrap();
            rows.push(&m[..d]).unwrap();
            rows.extend_from_le_bytes(&bytes, threads).unwrap();
            rows.truncate(0);
            let mut fresh = Int8Rows::new(d).unwrap();
            fresh.extend_from_le_bytes(&bytes, threads).unwrap();
            assert_eq!(fresh, want, "n={n} d={d} threads={threads}");
        }
        // A NaN late in the block (past the one-thread path's first
        // chunks at 700 x 384), then one in its middle: the first bad float
        // is named, nothing is appended.
        let mut bad = bytes.clone();
        for at in [(n - 1) * d + 2, (n / 2) * d + 1] {
            bad[at * 4..at * 4 + 4].copy_from_slice(&f32::NAN.to_le_bytes());
            for threads in [1, 2] {
                let mut rows = quantized(&m[..d], d);
                assert_eq!(
                    rows.extend_from_le_bytes(&bad, threads),
                    Err(KernelError::NonFinite { index: at })
                );
                assert_eq!(rows.len(), 1);
            }
        }
        let mut rows = Int8Rows::new(d).unwrap();
        assert!(matches!(
            rows.extend_from_le_bytes(&bytes[..bytes.len() - 1], 1),
            Err(KernelError::MatrixShape { .. })
        ));
        assert!(rows.is_empty());
    }
}

// ------------------------------------------------------------------- bounds

#[test]
fn the_interval_always_contains_the_f32_scan_score() {
    for kernel in kernels() {
        let imp = simd::int8_impl(kernel.tier());
        for seed in 0..40u64 {
            let mut r = Rng::new(seed);
            let d = [1usize, 2, 3, 17, 64, 384, 1000][seed as usize % 7];
            let n = 20;
            // Mix unit rows with raw (unnormalized, wide-ranging) ones.
            let mag = [1.0f32, 1e-20, 1e20, 1e-40][(seed / 7) as usize % 4];
            let m: Vec<f32> = (0..n * d)
                .map(|i| if i % 3 == 0 { r.f32() } else { r.f32() * mag })
                .collect();
            let q: Vec<f32> = (0..d).map(|_| r.f32() * mag.sqrt()).collect();
            let rows = quantized(&m, d);
            let qb = QueryBound::new(&q);
            let idx: Vec<usize> = (0..n).collect();
            let mut dots = vec![0i32; n];
            (imp.dot_rows)(&qb.codes, rows.all_codes(), d, &idx, &mut dots);
            for i in 0..n {
                let exact = kernel.dot(&q, &m[i * d..(i + 1) * d]);
                let (lo, hi) = qb.interval(rows.meta(i), dots[i]);
                assert!(
                    lo <= f64::from(exact) && f64::from(exact) <= hi,
                    "{:?} seed {seed} row {i}: {exact} not in [{lo}, {hi}]",
                    kernel.tier()
                );
                // The narrowed interval (the query's second codes) holds
                // too, inside the coarse one.
                let fine = (imp.dot)(&qb.fine_codes, rows.codes(i));
                let (flo, fhi) = qb.narrow(rows.meta(i), (lo, hi), dots[i], fine);
                assert!(
                    flo <= f64::from(exact) && f64::from(exact) <= fhi,
                    "{:?} seed {seed} row {i}: {exact} not in the narrowed [{flo}, {fhi}]",
                    kernel.tier()
                );
                assert!(
                    lo <= flo && fhi <= hi,
                    "narrowing widened [{lo}, {hi}] to [{flo}, {fhi}]"
                );
                if mag == 1.0 && d > 16 {
                    // Unit-scale rows: the query's half of the width is gone.
                    assert!(
                        fhi - flo < 0.75 * (hi - lo),
                        "seed {seed} row {i}: narrowed {} vs {}",
                        fhi - flo,
                        hi - lo
                    );
                }
                if mag == 1.0 && d > 16 {
                    let norm =
                        |v: &[f32]| v.iter().map(|&x| f64::from(x).powi(2)).sum::<f64>().sqrt();
                    let scale = norm(&q) * norm(&m[i * d..(i + 1) * d]);
                    assert!(hi - lo < 0.1 * scale, "a useless bound: [{lo}, {hi}]");
                }
            }
        }
    }
}

/// The fast test's promise (see `QueryBound::fast_cut`): a row whose
/// interval reaches the threshold always passes `dot as f32 * scale >= cut`,
/// on blocks that mix magnitudes (subnormal to near-overflow), at
/// thresholds exactly at and just below each row's upper end. And the cut
/// is useful: on unit rows it applies and turns most rows away.
#[test]
fn the_fast_cut_never_turns_away_a_row_that_reaches_the_threshold() {
    let imp = &simd::portable::IMPL;
    let (mut applied, mut pruned, mut tested) = (0usize, 0usize, 0usize);
    for seed in 0..60u64 {
        let mut r = Rng::new(1000 + seed);
        let d = [1usize, 3, 17, 64, 384, 1000][seed as usize % 6];
        let n = 40;
        let mixed = seed % 3 == 2;
        let mags = [1.0f32, 1e-20, 1e20, 1e-40, 1e30];
        let m: Vec<f32> = (0..n)
            .flat_map(|i| {
                let mag = if mixed { mags[i % mags.len()] } else { 1.0 };
                let mut v = r.unit(d);
                v.iter_mut().for_each(|x| *x *= mag);
                v
            })
            .collect();
        let qmag = [1.0f32, 1e-3, 1e3, 1e-30][(seed / 6) as usize % 4];
        let q: Vec<f32> = r.unit(d).iter().map(|&x| x * qmag).collect();
        let rows = quantized(&m, d);
        let qb = QueryBound::new(&q);
        let idx: Vec<usize> = (0..n).collect();
        let mut dots = vec![0i32; n];
        (imp.dot_rows)(&qb.codes, rows.all_codes(), d, &idx, &mut dots);
        let mut block = super::bound::BlockMeta::default();
        block.fill(rows.all_meta(), &idx);
        assert_eq!(
            qb.fast_cut(&block, f64::NEG_INFINITY),
            Some(f32::NEG_INFINITY)
        );
        let his: Vec<f64> = (0..n)
            .map(|i| qb.interval(rows.meta(i), dots[i]).1)
            .collect();
        for (i, &hi) in his.iter().enumerate() {
            for thr in [hi, hi - hi.abs() * 1e-12, hi - 1e-300] {
                let Some(cut) = qb.fast_cut(&block, thr) else {
                    continue;
                };
                tested += 1;
                let p = dots[i] as f32 * block.scale32[i];
                assert!(
                    p >= cut,
                    "seed {seed} row {i}: hi {hi} >= thr {thr} but p {p} < cut {cut}"
                );
            }
        }
        let top = his.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        if let Some(cut) = qb.fast_cut(&block, top) {
            applied += 1;
            pruned += (0..n)
                .filter(|&i| (dots[i] as f32 * block.scale32[i]) < cut)
                .count();
        }
    }
    assert!(
        tested > 1000,
        "the fast test applied to only {tested} cases"
    );
    assert!(applied >= 30, "the cut applied to {applied} blocks of 60");
    assert!(
        pruned > applied * 20,
        "the cut turned away only {pruned} rows"
    );
}

// ------------------------------------------------------------------ identity

fn int8_hits(
    kernel: &Kernel,
    rows: &Int8Rows,
    m: &[f32],
    q: &[f32],
    opts: &ScanOptions<'_>,
) -> Int8Search {
    kernel
        .int8_top_k(rows, q, opts, fetch_from_matrix(m, rows.dim()))
        .unwrap()
}

/// int8 == f32 for k in {1, 10, 100}, plain / filtered / min_score, 1 and
/// 2 threads, single and batch, on `m`.
fn assert_identical(m: &[f32], d: usize, seed: u64, what: &str) {
    let rows = quantized(m, d);
    let n = rows.len();
    let mut r = Rng::new(seed ^ 0xABCD);
    let words: Vec<u64> = (0..n.div_ceil(64)).map(|_| r.next_u64()).collect();
    let filter = RowFilter::new(&words);
    let queries: Vec<f32> = (0..3)
        .flat_map(|i| {
            if i == 0 {
                // A query equal to a row: the worst case for near-duplicates.
                m[..d].to_vec()
            } else {
                r.unit(d)
            }
        })
        .collect();
    for kernel in kernels() {
        for k in [1usize, 10, 100] {
            for q in queries.chunks_exact(d) {
                let plain = kernel.top_k(q, m, d, &ScanOptions::top(k)).unwrap();
                let min = plain[(plain.len() - 1) / 2].score;
                let variants = [
                    ScanOptions::top(k),
                    ScanOptions::top(k).filter(filter),
                    ScanOptions::top(k).min_score(min),
                    ScanOptions::top(k).filter(filter).min_score(min),
                ];
                for opts in variants {
                    let want = kernel.top_k(q, m, d, &opts).unwrap();
                    for threads in [1, 2] {
                        let o = opts.clone().threads(threads);
                        let got = int8_hits(&kernel, &rows, m, q, &o);
                        assert_eq!(
                            got.hits,
                            want,
                            "{what} {:?} k={k} threads={threads} {opts:?}",
                            kernel.tier()
                        );
                        assert!(got.rescored <= got.candidates);
                    }
                }
            }
            // Batch == single == f32 batch.
            for opts in [ScanOptions::top(k), ScanOptions::top(k).filter(filter)] {
                let want = kernel.top_k_batch(&queries, m, d, &opts).unwrap();
                let got = kernel
                    .int8_top_k_batch(&rows, &queries, &opts, fetch_from_matrix(m, d))
                    .unwrap();
                assert_eq!(got.len(), want.len());
                for (qi, (g, w)) in got.iter().zip(&want).enumerate() {
                    assert_eq!(&g.hits, w, "{what} batch {:?} k={k} q={qi}", kernel.tier());
                    let single = int8_hits(&kernel, &rows, m, &queries[qi * d..][..d], &opts);
                    assert_eq!(g.hits, single.hits);
                }
            }
        }
    }
}

#[test]
fn identical_to_f32_on_random_rows() {
    assert_identical(&random(1500, 48, 1), 48, 1, "random");
}

#[test]
fn identical_to_f32_on_clustered_rows() {
    assert_identical(&clustered(1500, 40, 2), 40, 2, "clustered");
}

#[test]
fn identical_to_f32_on_near_duplicates() {
    assert_identical(&near_duplicates(1500, 24, 3), 24, 3, "near-duplicates");
}

#[test]
fn identical_to_f32_on_tiny_norm_differences() {
    assert_identical(
        &tiny_norm_differences(1200, 33, 4),
        33,
        4,
        "tiny norm differences",
    );
}

/// Blocks where the fast test does not apply (rows so large that the
/// `f32` product could overflow its guard) take the path that bounds every
/// row, and still give the f32 scan's hits; the test checks that such a
/// block really refuses the fast test, so the path is exercised.
#[test]
fn identical_where_the_fast_test_does_not_apply() {
    let d = 17;
    let mut m = random(600, d, 31);
    for (i, row) in m.chunks_exact_mut(d).enumerate() {
        if i % 7 == 3 {
            row.iter_mut().for_each(|x| *x *= 1e30);
        }
    }
    let rows = quantized(&m, d);
    let qb = QueryBound::new(&Rng::new(2).unit(d));
    let mut block = super::bound::BlockMeta::default();
    block.fill(rows.all_meta(), &(0..rows.len()).collect::<Vec<_>>());
    assert_eq!(
        qb.fast_cut(&block, 0.5),
        None,
        "the large rows must refuse the fast test"
    );
    assert_identical(&m, d, 31, "rows scaled by 1e30");
}

#[test]
fn identical_at_awkward_dimensions() {
    for (d, n) in [(1usize, 200), (3, 200), (17, 200), (4096, 30)] {
        let m = random(n, d, d as u64);
        assert_identical(&m, d, d as u64, "awkward dim");
    }
}

#[test]
fn edge_cases_match_the_f32_scan() {
    let d = 8;
    let m = random(70, d, 9);
    let rows = quantized(&m, d);
    let q = Rng::new(5).unit(d);
    let none = [0u64; 2];
    let one = [1u64 << 5, 0];
    for kernel in kernels() {
        for opts in [
            ScanOptions::top(1000),                            // k > rows
            ScanOptions::top(5).filter(RowFilter::new(&none)), // nothing allowed
            ScanOptions::top(5).filter(RowFilter::new(&one)),  // one row allowed
            ScanOptions::top(5).filter(RowFilter::new(&[])),   // every row deleted
            ScanOptions::top(0),
            ScanOptions::top(3).min_score(2.0), // nothing reaches it
            ScanOptions::top(3).min_score(f32::NEG_INFINITY),
        ] {
            let want = kernel.top_k(&q, &m, d, &opts).unwrap();
            assert_eq!(
                int8_hits(&kernel, &rows, &m, &q, &opts).hits,
                want,
                "{opts:?}"
            );
        }
        // No queries at all; k = usize::MAX.
        let none_q = kernel
            .int8_top_k_batch(&rows, &[], &ScanOptions::top(3), fetch_from_matrix(&m, d))
            .unwrap();
        assert!(none_q.is_empty());
        let all = int8_hits(&kernel, &rows, &m, &q, &ScanOptions::top(usize::MAX));
        assert_eq!(
            all.hits,
            kernel
                .top_k(&q, &m, d, &ScanOptions::top(usize::MAX))
                .unwrap()
        );
        let empty = Int8Rows::new(d).unwrap();
        let got = kernel
            .int8_top_k(&empty, &q, &ScanOptions::top(3), fetch_from_matrix(&[], d))
            .unwrap();
        assert!(got.hits.is_empty());
    }
}

#[test]
fn bad_arguments_are_refused() {
    let d = 4;
    let m = random(10, d, 1);
    let rows = quantized(&m, d);
    let k = Kernel::new(Tier::Portable).unwrap();
    let f = || fetch_from_matrix(&m, d);
    let e = k.int8_top_k(&rows, &[1.0; 3], &ScanOptions::top(1), f());
    assert_eq!(
        e,
        Err(Int8Error::Kernel(KernelError::DimensionMismatch {
            expected: 4,
            got: 3
        }))
    );
    let e = k.int8_top_k(&rows, &[1.0, f32::NAN, 0.0, 0.0], &ScanOptions::top(1), f());
    assert_eq!(
        e,
        Err(Int8Error::Kernel(KernelError::NonFinite { index: 1 }))
    );
    let e = k.int8_top_k(
        &rows,
        &[1.0; 4],
        &ScanOptions::top(1).min_score(f32::NAN),
        f(),
    );
    assert_eq!(e, Err(Int8Error::Kernel(KernelError::InvalidMinScore)));
    let e = k.int8_top_k_batch(&rows, &[1.0; 5], &ScanOptions::top(1), f());
    assert_eq!(
        e,
        Err(Int8Error::Kernel(KernelError::QueriesShape {
            len: 5,
            dim: 4
        }))
    );
}

#[test]
fn a_row_changed_after_quantization_is_reported_not_served() {
    let d = 16;
    let m = random(200, d, 21);
    let rows = quantized(&m, d);
    let q = m[7 * d..8 * d].to_vec(); // row 7 is the best hit
    for kernel in kernels() {
        let mut tampered = m.clone();
        for v in &mut tampered[7 * d..8 * d] {
            *v = -*v;
        }
        let e = kernel.int8_top_k(
            &rows,
            &q,
            &ScanOptions::top(3),
            fetch_from_matrix(&tampered, d),
        );
        match e {
            Err(Int8Error::OutsideBound { row, score, lo, hi }) => {
                assert_eq!(row, 7);
                assert!(f64::from(score) < lo && lo <= hi);
            }
            other => panic!("expected OutsideBound, got {other:?}"),
        }
        // The callback's own error comes back unchanged.
        let e = kernel.int8_top_k(
            &rows,
            &q,
            &ScanOptions::top(3),
            |_: &[usize], _: &mut [f32]| Err("disk on fire"),
        );
        assert_eq!(e, Err(Int8Error::Fetch("disk on fire")));
    }
}

#[test]
fn fetch_sees_ascending_unique_allowed_rows() {
    let d = 12;
    let m = near_duplicates(600, d, 5);
    let rows = quantized(&m, d);
    let words = [0xF0F0_F0F0_F0F0_F0F0u64; 10];
    let filter = RowFilter::new(&words);
    let kernel = Kernel::active();
    let queries: Vec<f32> = m[..3 * d].to_vec();
    let mut calls = 0;
    let mut inner = fetch_from_matrix(&m, d);
    let res = kernel
        .int8_top_k_batch(
            &rows,
            &queries,
            &ScanOptions::top(10).filter(filter),
            |r: &[usize], out: &mut [f32]| {
                calls += 1;
                assert!(r.windows(2).all(|w| w[0] < w[1]));
                assert!(r.iter().all(|&row| filter.allows(row)));
                assert_eq!(out.len(), r.len() * d);
                inner(r, out)
            },
        )
        .unwrap();
    assert!(calls > 0 && res.len() == 3);
    let _: Option<Infallible> = None;
}

/// Rescored rows per query on random unit rows, 1M x 384 (release only).
#[test]
#[ignore]
fn int8_rescoring_on_a_million_random_rows() {
    let (n, d) = (1_000_000, 384);
    let m = random(n, d, 42);
    let rows = quantized(&m, d);
    let kernel = Kernel::active();
    for k in [1usize, 10, 100] {
        let mut total = 0;
        for s in 0..20 {
            let q = Rng::new(1000 + s).unit(d);
            let opts = ScanOptions::top(k);
            let got = int8_hits(&kernel, &rows, &m, &q, &opts);
            assert_eq!(got.hits, kernel.top_k(&q, &m, d, &opts).unwrap());
            total += got.rescored;
        }
        eprintln!("k={k}: mean rescored {}", total as f64 / 20.0);
        assert!(total as f64 / 20.0 <= 10.0 * k as f64);
    }
}

/// The bits of a row's metadata (`==` on floats would let `-0.0 == 0.0`).
fn meta_bits(m: &[RowMeta]) -> Vec<[u32; 3]> {
    m.iter()
        .map(|m| [m.scale.to_bits(), m.norm.to_bits(), m.residual.to_bits()])
        .collect()
}

#[test]
fn every_quantizer_tier_gives_the_portable_bits() {
    // The store re-quantizes rows it reads back and compares them with
    // what it loaded, so the tiers must agree exactly, not just closely.
    use super::quantize_tiers::all_available;
    let tiers = all_available();
    assert_eq!(tiers[0].name, "portable");
    let mut r = Rng::new(12);
    let tiny = f32::from_bits(1);
    for d in [1usize, 2, 7, 15, 16, 17, 31, 33, 64, 100, 384, 1000] {
        let mut rows = Vec::new();
        for scale in [1.0f32, 1e-30, 1e30, 1e-42, 3e38] {
            for _ in 0..4 {
                rows.extend((0..d).map(|_| r.f32() * scale));
            }
        }
        rows.extend((0..d).map(|i| if i % 3 == 0 { tiny } else { -0.0 }));
        rows.extend(std::iter::repeat_n(0.0, d));
        rows.extend((0..d).map(|i| if i == d / 2 { f32::MAX } else { 1e-20 }));
        // Values exactly halfway between codes (ties round to even).
        rows.extend((0..d).map(|i| (i % 255) as f32 - 127.0 + 0.5 * (i % 2) as f32));
        let n = rows.len() / d;
        let bytes: Vec<u8> = rows.iter().flat_map(|x| x.to_le_bytes()).collect();
        let run = |q: &super::quantize_tiers::Quantizer| {
            let (mut c1, mut m1) = (vec![0i8; n * d], vec![RowMeta::default(); n]);
            (q.f32_rows)(&rows, d, &mut c1, &mut m1);
            let (mut c2, mut m2) = (vec![0i8; n * d], vec![RowMeta::default(); n]);
            (q.le_rows)(&bytes, d, &mut c2, &mut m2).unwrap();
            assert_eq!((&c1, meta_bits(&m1)), (&c2, meta_bits(&m2)), "{}", q.name);
            (c1, meta_bits(&m1))
        };
        let want = run(tiers[0]);
        for q in &tiers[1..] {
            assert_eq!(run(q), want, "tier {} at dim {d}", q.name);
        }
        // A non-finite float is named by its index, in every tier.
        let mut bad = bytes.clone();
        let at = (n / 2) * d + d / 3;
        bad[4 * at..4 * at + 4].copy_from_slice(&f32::NAN.to_le_bytes());
        for q in &tiers {
            let (mut c, mut m) = (vec![0i8; n * d], vec![RowMeta::default(); n]);
            assert_eq!((q.le_rows)(&bad, d, &mut c, &mut m), Err(at), "{}", q.name);
        }
    }
}
