//! `nidus bench`: the store and the kernel on generated data, and the
//! machine (read bandwidth, FMA peak) measured in the same run, so every
//! number can be read as a fraction of what this machine can do now.

use std::time::{Duration, Instant};

use anyhow::Result;
use nidus_format::Attributes;

use super::write_stdout;
use crate::args::Matches;
use crate::db::{Db, SearchParams};
use crate::json;
use crate::progress::{Progress, group_digits};
use crate::synth::Clustered;
use crate::tempdir::TempDir;

/// The settings of one run.
#[derive(Debug, Clone, Copy)]
pub struct BenchConfig {
    /// Vectors.
    pub n: usize,
    /// Dimension.
    pub dim: usize,
    /// Hits per query.
    pub k: usize,
    /// Single queries timed.
    pub queries: usize,
    /// Rows per durable write.
    pub batch: usize,
    /// Scan threads (0: all cores).
    pub threads: usize,
}

/// The measurements (keys as `--json` prints them).
#[derive(Debug, Clone)]
pub struct BenchReport {
    /// The settings.
    pub config: BenchConfig,
    /// Threads actually used.
    pub threads: usize,
    /// The kernel's SIMD tier.
    pub tier: String,
    /// Durable ingest rate.
    pub ingest_vectors_per_s: f64,
    /// Open (reload) rate over the data file's bytes.
    pub open_gb_per_s: f64,
    /// Median single-query latency.
    pub query_p50_ms: f64,
    /// 95th percentile single-query latency.
    pub query_p95_ms: f64,
    /// Vector bytes scanned per second by a median single query.
    pub query_gb_per_s: f64,
    /// Queries per second in batches of 64.
    pub batch_queries_per_s: f64,
    /// Multiply-add throughput of the batched search (2 flops per value).
    pub batch_gflops: f64,
    /// The bare kernel's median single-query latency on the same vectors
    /// and queries (what the store adds is the difference).
    pub kernel_query_p50_ms: f64,
    /// The bare kernel's queries per second in batches of 64.
    pub kernel_batch_queries_per_s: f64,
    /// The machine's read bandwidth, measured now.
    pub read_bandwidth_gb_per_s: f64,
    /// The machine's multiply-add peak, measured now.
    pub fma_peak_gflops: f64,
}

/// Queries per pass in the batched measurement (as the issue fixes it).
const BATCH_QUERIES: usize = 64;

/// Runs `bench`.
pub fn run(m: &Matches) -> Result<()> {
    let config = BenchConfig {
        n: m.parsed_or("n", 100_000)?,
        dim: m.parsed_or("dim", 384)?,
        k: m.parsed_or("k", 10)?,
        queries: m.parsed_or("queries", 200)?,
        batch: m.parsed_or("batch", 10_000)?,
        threads: m.parsed_or("threads", 0)?,
    };
    for (flag, value) in [
        ("n", config.n),
        ("dim", config.dim),
        ("k", config.k),
        ("queries", config.queries),
        ("batch", config.batch),
    ] {
        if value == 0 {
            return Err(m.usage_error(format!("--{flag} must be at least 1")).into());
        }
    }
    if config.queries > 1_000_000 || config.batch > super::import::MAX_BATCH {
        return Err(m
            .usage_error("--queries and --batch must be at most 1000000")
            .into());
    }
    if config.dim > 65_536 {
        return Err(m.usage_error("--dim must be at most 65536").into());
    }
    if config.n.checked_mul(config.dim).is_none_or(|x| x > 1 << 31) {
        return Err(m
            .usage_error("--n times --dim must stay below 2^31 values (8 GiB)")
            .into());
    }
    let json = m.switch("json");
    let report = bench(config, !json)?;
    if json {
        outln!("{}", to_json(&report));
    } else {
        write_stdout(&to_table(&report))?;
    }
    Ok(())
}

fn say(verbose: bool, text: &str) {
    if verbose {
        eprintln!("{text}");
    }
}

/// Measures everything; `verbose` narrates the steps on stderr.
pub fn bench(config: BenchConfig, verbose: bool) -> Result<BenchReport> {
    let BenchConfig {
        n, dim, k, batch, ..
    } = config;
    let threads = if config.threads == 0 {
        std::thread::available_parallelism().map_or(1, |t| t.get())
    } else {
        config.threads
    };
    let dir = TempDir::new("nidus-bench")?;
    let store = dir.path().join("store");
    let mut points = Clustered::new(dim, 64, 0.5, 42);

    say(
        verbose,
        &format!(
            "bench: {} x {dim} vectors, durable batches of {batch}",
            group_digits(n as u64)
        ),
    );
    // Generate first so that the ingest timing measures the store alone.
    let mut vectors = Vec::with_capacity(n * dim);
    for _ in 0..n {
        points.point(&mut vectors);
    }
    let ids: Vec<String> = (0..n).map(|i| i.to_string()).collect();

    let mut progress = Progress::new("ingest");
    let start = Instant::now();
    {
        let mut db = Db::create_or_open(&store, dim)?;
        let mut done = 0;
        while done < n {
            let end = (done + batch).min(n);
            let rows = ids[done..end]
                .iter()
                .map(|id| (id.clone(), Attributes::new()));
            db.upsert("bench", rows, &vectors[done * dim..end * dim])?;
            done = end;
            progress.update(done as u64, Some(done as f64 / n as f64));
        }
    }
    let ingest_s = start.elapsed().as_secs_f64();
    progress.finish();

    let start = Instant::now();
    let db = Db::open_read_only(&store)?;
    let open_s = start.elapsed().as_secs_f64();
    let file_bytes = db.stats()?.file_bytes;
    say(
        verbose,
        &format!("bench: ingest {ingest_s:.2} s, open {open_s:.3} s"),
    );

    let params = SearchParams {
        k,
        collections: &[],
        filter: None,
        min_score: None,
        threads,
        with_attrs: false,
    };
    // Single queries: fresh points, one search call each.
    let mut queries = Vec::with_capacity(config.queries * dim);
    for _ in 0..config.queries {
        points.point(&mut queries);
    }
    let mut latencies = Vec::with_capacity(config.queries);
    // One untimed warm-up query (page faults, thread start-up).
    db.search_batch(&queries[..dim], params)?;
    for query in queries.chunks_exact(dim) {
        let t = Instant::now();
        std::hint::black_box(db.search_batch(query, params)?);
        latencies.push(t.elapsed().as_secs_f64());
    }
    let (p50, p95) = percentiles(&mut latencies);
    let matrix_bytes = (n * dim * 4) as f64;
    say(
        verbose,
        &format!("bench: single queries p50 {:.2} ms", p50 * 1e3),
    );

    // Batches of 64 queries: enough passes for about a second.
    let mut block = Vec::with_capacity(BATCH_QUERIES * dim);
    for _ in 0..BATCH_QUERIES {
        points.point(&mut block);
    }
    let t = Instant::now();
    db.search_batch(&block, params)?;
    let one = t.elapsed().as_secs_f64();
    let passes = ((1.0 / one.max(1e-6)) as usize).clamp(1, 20);
    let t = Instant::now();
    for _ in 0..passes {
        std::hint::black_box(db.search_batch(&block, params)?);
    }
    let batch_s = t.elapsed().as_secs_f64() / passes as f64;
    let batch_qps = BATCH_QUERIES as f64 / batch_s;
    let batch_gflops = 2.0 * (n * dim * BATCH_QUERIES) as f64 / batch_s / 1e9;
    say(
        verbose,
        &format!("bench: 64-query batches {batch_qps:.0} queries/s"),
    );
    drop(db);

    // The bare kernel on the same vectors and queries.
    let opts = nidus_kernel::ScanOptions::top(k).threads(threads);
    let mut kernel_latencies = Vec::with_capacity(config.queries);
    for query in queries.chunks_exact(dim) {
        let t = Instant::now();
        std::hint::black_box(nidus_kernel::top_k(query, &vectors, dim, &opts)?);
        kernel_latencies.push(t.elapsed().as_secs_f64());
    }
    let (kernel_p50, _) = percentiles(&mut kernel_latencies);
    let t = Instant::now();
    for _ in 0..passes {
        std::hint::black_box(nidus_kernel::top_k_batch(&block, &vectors, dim, &opts)?);
    }
    let kernel_batch_s = t.elapsed().as_secs_f64() / passes as f64;

    // The machine, now: read the same number of bytes the scan reads.
    let read_bw = nidus_kernel::measure_read_bandwidth(&vectors, threads, 5);
    let fma = nidus_kernel::measure_fma_peak(threads, Duration::from_millis(200));

    Ok(BenchReport {
        config,
        threads,
        tier: nidus_kernel::active_tier().to_string(),
        ingest_vectors_per_s: n as f64 / ingest_s.max(1e-9),
        open_gb_per_s: file_bytes as f64 / open_s.max(1e-9) / 1e9,
        query_p50_ms: p50 * 1e3,
        query_p95_ms: p95 * 1e3,
        query_gb_per_s: matrix_bytes / p50.max(1e-9) / 1e9,
        batch_queries_per_s: batch_qps,
        batch_gflops,
        kernel_query_p50_ms: kernel_p50 * 1e3,
        kernel_batch_queries_per_s: BATCH_QUERIES as f64 / kernel_batch_s.max(1e-9),
        read_bandwidth_gb_per_s: read_bw,
        fma_peak_gflops: fma,
    })
}

/// The median and 95th percentile of `samples` (sorted in place; not empty).
fn percentiles(samples: &mut [f64]) -> (f64, f64) {
    samples.sort_by(f64::total_cmp);
    let at = |p: f64| samples[((samples.len() - 1) as f64 * p).round() as usize];
    (at(0.5), at(0.95))
}

fn num(out: &mut String, key: &str, v: f64) {
    out.push(',');
    json::write_str(out, key);
    out.push(':');
    // Three significant decimals are plenty for timings.
    let rounded = (v * 1000.0).round() / 1000.0;
    json::write_f64(out, rounded);
}

/// The `--json` object.
pub fn to_json(r: &BenchReport) -> String {
    let c = r.config;
    let mut out = format!(
        "{{\"n\":{},\"dim\":{},\"k\":{},\"queries\":{},\"batch\":{},\"threads\":{},\"tier\":",
        c.n, c.dim, c.k, c.queries, c.batch, r.threads
    );
    json::write_str(&mut out, &r.tier);
    num(&mut out, "ingest_vectors_per_s", r.ingest_vectors_per_s);
    num(&mut out, "open_gb_per_s", r.open_gb_per_s);
    num(&mut out, "query_p50_ms", r.query_p50_ms);
    num(&mut out, "query_p95_ms", r.query_p95_ms);
    num(&mut out, "query_gb_per_s", r.query_gb_per_s);
    num(&mut out, "batch_queries_per_s", r.batch_queries_per_s);
    num(&mut out, "batch_gflops", r.batch_gflops);
    num(&mut out, "kernel_query_p50_ms", r.kernel_query_p50_ms);
    num(
        &mut out,
        "kernel_batch_queries_per_s",
        r.kernel_batch_queries_per_s,
    );
    num(
        &mut out,
        "read_bandwidth_gb_per_s",
        r.read_bandwidth_gb_per_s,
    );
    num(&mut out, "fma_peak_gflops", r.fma_peak_gflops);
    out.push('}');
    out
}

/// The readable table.
pub fn to_table(r: &BenchReport) -> String {
    let c = r.config;
    let pct = |a: f64, b: f64| if b > 0.0 { a / b * 100.0 } else { 0.0 };
    let mut out = format!(
        "nidus bench: n={} dim={} k={} threads={} tier={}\n\n",
        group_digits(c.n as u64),
        c.dim,
        c.k,
        r.threads,
        r.tier
    );
    let mut row = |what: &str, value: String, note: String| {
        out.push_str(&format!("{what:<34} {value:>16}  {note}\n"));
    };
    row(
        &format!("ingest (durable, batches of {})", c.batch),
        format!("{} vec/s", group_digits(r.ingest_vectors_per_s as u64)),
        String::new(),
    );
    row(
        "open",
        format!("{:.2} GB/s", r.open_gb_per_s),
        String::new(),
    );
    row(
        "single query p50",
        format!("{:.2} ms", r.query_p50_ms),
        String::new(),
    );
    row(
        "single query p95",
        format!("{:.2} ms", r.query_p95_ms),
        String::new(),
    );
    row(
        "single query scan rate",
        format!("{:.2} GB/s", r.query_gb_per_s),
        format!(
            "{:.0}% of read bandwidth",
            pct(r.query_gb_per_s, r.read_bandwidth_gb_per_s)
        ),
    );
    row(
        "64-query batches",
        format!("{:.0} q/s", r.batch_queries_per_s),
        String::new(),
    );
    row(
        "64-query batch multiply-adds",
        format!("{:.1} GFLOP/s", r.batch_gflops),
        format!("{:.0}% of FMA peak", pct(r.batch_gflops, r.fma_peak_gflops)),
    );
    row(
        "kernel alone: single query p50",
        format!("{:.2} ms", r.kernel_query_p50_ms),
        format!(
            "store/kernel {:.2}x",
            r.query_p50_ms / r.kernel_query_p50_ms.max(1e-9)
        ),
    );
    row(
        "kernel alone: 64-query batches",
        format!("{:.0} q/s", r.kernel_batch_queries_per_s),
        String::new(),
    );
    row(
        "machine: read bandwidth",
        format!("{:.2} GB/s", r.read_bandwidth_gb_per_s),
        String::new(),
    );
    row(
        "machine: FMA peak",
        format!("{:.1} GFLOP/s", r.fma_peak_gflops),
        String::new(),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_has_every_key() {
        let r = BenchReport {
            config: BenchConfig {
                n: 10,
                dim: 4,
                k: 2,
                queries: 3,
                batch: 5,
                threads: 0,
            },
            threads: 2,
            tier: "avx2".into(),
            ingest_vectors_per_s: 1.5,
            open_gb_per_s: 2.0,
            query_p50_ms: 0.1234,
            query_p95_ms: 0.2,
            query_gb_per_s: 3.0,
            batch_queries_per_s: 4.0,
            batch_gflops: 5.0,
            kernel_query_p50_ms: 0.1,
            kernel_batch_queries_per_s: 4.5,
            read_bandwidth_gb_per_s: 6.0,
            fma_peak_gflops: 7.0,
        };
        let text = to_json(&r);
        let v = json::parse(&text).unwrap();
        for key in [
            "n",
            "dim",
            "k",
            "threads",
            "tier",
            "ingest_vectors_per_s",
            "open_gb_per_s",
            "query_p50_ms",
            "query_p95_ms",
            "query_gb_per_s",
            "batch_queries_per_s",
            "batch_gflops",
            "read_bandwidth_gb_per_s",
            "fma_peak_gflops",
        ] {
            assert!(v.get(key).is_some(), "{key} missing from {text}");
        }
        assert!(text.contains("\"query_p50_ms\":0.123"), "{text}");
        assert!(to_table(&r).contains("avx2"));
    }
}
