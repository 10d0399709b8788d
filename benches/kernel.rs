//! Criterion benches for the kernel: the single-query scan and the 64-query
//! batch on every tier this machine has, plus two references measured in the
//! same run so results can be quoted as fractions of this machine right now:
//!
//! * `reference/read_bw/...`: the same matrix summed with the fastest tier
//!   (the scan's ceiling: it reads the same bytes);
//! * `reference/fma_peak/...`: a register-only multiply-add loop with enough
//!   independent accumulators (the batch's ceiling).
//!
//! Throughput: scans and the bandwidth reference report bytes of matrix read
//! (criterion prints GB/s); the batch and the FMA reference report floating-
//! point operations as "elements" (criterion's `Gelem/s` = GFLOP/s; a batch
//! does `2 * n * d * B` of them).
//!
//! Criterion runs its groups one after another, minutes apart, and this
//! machine is shared: the load drifts between them. So the run ends with
//! `paired/targets`, which times the kernel and its reference back to back
//! (alternating) and prints the median ratio of each pair: the numbers to
//! quote against the targets. Run only that with
//! `cargo bench --bench kernel -- paired`.
//!
//! The default run (`cargo bench --bench kernel`, a few minutes) covers the
//! targets of the kernel issue: 1M x 384 with k = 10, 1 and 2 threads, the
//! best tier and the portable path, plus a few 100k shapes. Set
//! `NIDUS_BENCH_FULL=1` for the whole grid (n = 100k, 1M; d = 384, 768;
//! k = 10, 100; 1 and 2 threads; every tier: tens of minutes, mostly the
//! portable batches), and select with criterion's filter, e.g.
//! `NIDUS_BENCH_FULL=1 cargo bench --bench kernel -- 'batch64/n1M/d768'`.
#![allow(missing_docs)]

use std::hint::black_box;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, SamplingMode, Throughput, criterion_group};
use nidus::kernel::{Kernel, ScanOptions, Tier, normalize};
use nidus_testkit::Rng;

const BATCH: usize = 64;

/// The same seeded data every run (the shared xorshift64*).
fn random_unit_rows(n: usize, d: usize, seed: u64) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    let mut v: Vec<f32> = (0..n * d).map(|_| rng.unit_f32()).collect();
    for row in v.chunks_mut(d) {
        normalize(row).expect("random rows are non-zero");
    }
    v
}

/// The most recent matrix, built on first use by a selected bench (so a
/// filtered run builds only what it measures) and dropped when another
/// shape is needed (1M x 768 is 3 GB).
type Cached = ((usize, usize), Arc<Vec<f32>>);
static MATRIX: Mutex<Option<Cached>> = Mutex::new(None);

fn matrix(n: usize, d: usize) -> Arc<Vec<f32>> {
    let mut slot = MATRIX.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((shape, m)) = slot.as_ref()
        && *shape == (n, d)
    {
        return m.clone();
    }
    *slot = None; // free the old one before allocating the new one
    let m = Arc::new(random_unit_rows(n, d, (n * 31 + d) as u64));
    *slot = Some(((n, d), m.clone()));
    m
}

fn full_grid() -> bool {
    std::env::var_os("NIDUS_BENCH_FULL").is_some_and(|v| v != "0")
}

fn label(n: usize) -> String {
    if n.is_multiple_of(1_000_000) {
        format!("{}M", n / 1_000_000)
    } else {
        format!("{}k", n / 1000)
    }
}

fn configure(g: &mut BenchmarkGroup<'_, WallTime>) {
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .sampling_mode(SamplingMode::Flat);
}

/// (n, d, k, threads, tier) of the scans and batches to run.
fn cases() -> Vec<(usize, usize, usize, usize, Tier)> {
    let tiers = Tier::available();
    let best = tiers[0];
    if full_grid() {
        let mut v = Vec::new();
        for n in [100_000, 1_000_000] {
            for d in [384, 768] {
                for k in [10, 100] {
                    for t in [1, 2] {
                        for &tier in &tiers {
                            v.push((n, d, k, t, tier));
                        }
                    }
                }
            }
        }
        v
    } else {
        let mut v = vec![
            (1_000_000, 384, 10, 2, best),
            (1_000_000, 384, 10, 1, best),
            (1_000_000, 384, 10, 2, Tier::Portable),
            (100_000, 384, 10, 2, best),
            (100_000, 384, 100, 2, best),
            (100_000, 768, 10, 2, best),
            (100_000, 768, 100, 1, best),
        ];
        v.dedup();
        v
    }
}

fn references(c: &mut Criterion) {
    let best = Kernel::active();
    for (n, d) in [(1_000_000usize, 384usize)] {
        let mut g = c.benchmark_group(format!("reference/read_bw/n{}/d{d}", label(n)));
        configure(&mut g);
        g.throughput(Throughput::BytesDecimal((n * d * 4) as u64));
        for t in [1, 2] {
            g.bench_function(format!("{}/t{t}", best.tier()), |b| {
                let m = matrix(n, d);
                b.iter(|| best.sum(&m, t))
            });
        }
        g.finish();
    }
    let mut g = c.benchmark_group("reference/fma_peak");
    configure(&mut g);
    let iters = 2_000_000u64;
    for t in [1u64, 2] {
        g.throughput(Throughput::Elements(iters * best.fma_flops_per_iter() * t));
        g.bench_function(format!("{}/t{t}", best.tier()), |b| {
            b.iter(|| best.fma_probe(std::hint::black_box(iters), t as usize))
        });
    }
    g.finish();
}

fn scans(c: &mut Criterion) {
    for (n, d, k, t, tier) in cases() {
        let Some(kern) = Kernel::new(tier) else {
            continue;
        };
        let mut g = c.benchmark_group(format!("scan/n{}/d{d}", label(n)));
        configure(&mut g);
        g.throughput(Throughput::BytesDecimal((n * d * 4) as u64));
        g.bench_function(format!("{tier}/k{k}/t{t}"), |b| {
            let m = matrix(n, d);
            let query = random_unit_rows(1, d, 7);
            let opts = ScanOptions::top(k).threads(t);
            b.iter(|| kern.top_k(&query, &m, d, &opts).expect("valid shapes"))
        });
        g.finish();
    }
}

fn batches(c: &mut Criterion) {
    for (n, d, k, t, tier) in cases() {
        let Some(kern) = Kernel::new(tier) else {
            continue;
        };
        let mut g = c.benchmark_group(format!("batch{BATCH}/n{}/d{d}", label(n)));
        configure(&mut g);
        g.throughput(Throughput::Elements((2 * n * d * BATCH) as u64));
        g.bench_function(format!("{tier}/k{k}/t{t}"), |b| {
            let m = matrix(n, d);
            let queries = random_unit_rows(BATCH, d, 11);
            let opts = ScanOptions::top(k).threads(t);
            b.iter(|| {
                kern.top_k_batch(&queries, &m, d, &opts)
                    .expect("valid shapes")
            })
        });
        g.finish();
    }
}

/// Median and quartiles of `v` (sorted in place).
fn quartiles(v: &mut [f64]) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    let at = |f: f64| v[((v.len() - 1) as f64 * f).round() as usize];
    (at(0.5), at(0.25), at(0.75))
}

/// Times `a` and `b` alternately `pairs` times; returns the per-pair ratios
/// `time(a) / time(b)` and the times of each. The machine is shared and its
/// load drifts over seconds, so only ratios of back-to-back runs are
/// comparable; criterion's groups run minutes apart.
fn paired(
    pairs: usize,
    mut a: impl FnMut(),
    mut b: impl FnMut(),
) -> (Vec<f64>, Vec<f64>, Vec<f64>) {
    let (mut ratios, mut ta, mut tb) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..pairs {
        let s = Instant::now();
        a();
        let x = s.elapsed().as_secs_f64();
        let s = Instant::now();
        b();
        let y = s.elapsed().as_secs_f64();
        ratios.push(x / y);
        ta.push(x);
        tb.push(y);
    }
    (ratios, ta, tb)
}

/// The targets as ratios measured back to back in this run:
/// scan vs read bandwidth, batch vs FMA peak, best tier vs portable.
fn paired_targets() {
    let (n, d, k) = (1_000_000usize, 384usize, 10usize);
    let best = Kernel::active();
    let portable = Kernel::new(Tier::Portable).expect("portable always runs");
    let m = matrix(n, d);
    let query = random_unit_rows(1, d, 7);
    let queries = random_unit_rows(BATCH, d, 11);
    let bytes = (n * d * 4) as f64;
    let flops = (2 * n * d * BATCH) as f64;
    println!(
        "\npaired/targets: {n} x {d}, k = {k}, tier {} (median of back-to-back pairs, [quartiles])",
        best.tier()
    );
    for t in [1usize, 2] {
        let opts = ScanOptions::top(k).threads(t);
        let (mut r, mut ts, mut tk) = paired(
            11,
            || {
                black_box(best.sum(&m, t));
            },
            || {
                black_box(best.top_k(&query, &m, d, &opts).expect("valid shapes"));
            },
        );
        let (r, rq1, rq3) = quartiles(&mut r);
        println!(
            "  scan    t{t}: {:6.1} GB/s vs read bandwidth {:6.1} GB/s = {:3.0}% [{:.0}-{:.0}%]",
            bytes / quartiles(&mut tk).0 / 1e9,
            bytes / quartiles(&mut ts).0 / 1e9,
            100.0 * r,
            100.0 * rq1,
            100.0 * rq3
        );
    }
    for t in [1usize, 2] {
        let opts = ScanOptions::top(k).threads(t);
        // Size the FMA probe to last about as long as one batch.
        let start = Instant::now();
        black_box(
            best.top_k_batch(&queries, &m, d, &opts)
                .expect("valid shapes"),
        );
        let batch_secs = start.elapsed().as_secs_f64();
        let probe_iters = 1_000_000u64;
        let start = Instant::now();
        black_box(best.fma_probe(probe_iters, t));
        let iters =
            ((probe_iters as f64 * batch_secs / start.elapsed().as_secs_f64()) as u64).max(1000);
        let probe_flops = (iters * best.fma_flops_per_iter() * t as u64) as f64;
        let (mut tf, mut tb) = (Vec::new(), Vec::new());
        let (mut r, ..) = paired(
            5,
            || {
                let s = Instant::now();
                black_box(best.fma_probe(black_box(iters), t));
                tf.push(s.elapsed().as_secs_f64());
            },
            || {
                let s = Instant::now();
                black_box(
                    best.top_k_batch(&queries, &m, d, &opts)
                        .expect("valid shapes"),
                );
                tb.push(s.elapsed().as_secs_f64());
            },
        );
        // r = t_fma / t_batch; the FLOP ratio is (flops / t_batch) / (probe_flops / t_fma).
        let scale = flops / probe_flops;
        let (r, rq1, rq3) = quartiles(&mut r);
        // On a loaded machine the time slices other processes take inflate
        // both medians unevenly; the fastest run of each is the closest to
        // what the cores can do, so their ratio is printed too.
        let fastest = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
        println!(
            "  batch{BATCH} t{t}: {:6.1} GFLOP/s vs FMA peak {:6.1} GFLOP/s = {:3.0}% [{:.0}-{:.0}%] ({:.0} queries/s); fastest vs fastest {:3.0}%",
            flops / quartiles(&mut tb).0 / 1e9,
            probe_flops / quartiles(&mut tf).0 / 1e9,
            100.0 * r * scale,
            100.0 * rq1 * scale,
            100.0 * rq3 * scale,
            BATCH as f64 / quartiles(&mut tb).0,
            100.0 * (flops / fastest(&tb)) / (probe_flops / fastest(&tf))
        );
    }
    if best.tier() != Tier::Portable {
        let opts = ScanOptions::top(k).threads(2);
        let (mut r, ..) = paired(
            3,
            || {
                black_box(
                    portable
                        .top_k_batch(&queries, &m, d, &opts)
                        .expect("valid shapes"),
                );
            },
            || {
                black_box(
                    best.top_k_batch(&queries, &m, d, &opts)
                        .expect("valid shapes"),
                );
            },
        );
        let (r, rq1, rq3) = quartiles(&mut r);
        println!(
            "  batch{BATCH} t2: {} is {r:.2}x portable [{rq1:.2}-{rq3:.2}x]",
            best.tier()
        );
    }
}

criterion_group!(benches, references, scans, batches);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    // Criterion's positional argument is a filter; run the paired section
    // when there is none or when it names it.
    // Not in `cargo test --benches` (--test) or `--list` runs.
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--test" || a == "--list") {
        return;
    }
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    if filters.is_empty()
        || filters
            .iter()
            .any(|f| "paired/targets".contains(f.as_str()))
    {
        paired_targets();
    }
}
