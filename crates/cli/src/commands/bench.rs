//! `nidus bench`: the store and the kernel on generated data, and the
//! machine (read bandwidth, FMA peak) measured in the same run, so every
//! number can be read as a fraction of what this machine can do now.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use nidus_format::Attributes;
use nidus_store::Scan;

use super::write_stdout;
use crate::args::Matches;
use crate::db::{Db, Hit, SearchParams};
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
    /// The scan mode the unprefixed keys measure.
    pub scan: Scan,
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
    /// Open (reload) rate in `int8`, checksums verified.
    pub int8_open_gb_per_s: f64,
    /// Median single-query latency in `int8`.
    pub int8_query_p50_ms: f64,
    /// Queries per second in batches of 64 in `int8`.
    pub int8_batch_queries_per_s: f64,
    /// Rows rescored from the file per single query in `int8`: the mean.
    pub int8_rescored_rows_per_query: f64,
    /// Rows rescored from the file per single query in `int8`: the 99th
    /// percentile.
    pub int8_rescored_rows_p99: f64,
    /// Heap bytes the store keeps after open in `f32`.
    pub f32_resident_bytes: u64,
    /// Heap bytes the store keeps after open in `int8`.
    pub int8_resident_bytes: u64,
}

/// One scan mode measured on the bench's store.
struct ModeRun {
    open_s: f64,
    p50: f64,
    p95: f64,
    batch_s: f64,
    resident_bytes: u64,
    /// Rows rescored by each single query.
    rescored: Vec<f64>,
    /// The single queries' hits (to check both modes agree).
    hits: Vec<Vec<Hit>>,
}

/// Opens the store at `path` in `scan` and times single queries (one
/// untimed warm-up first) and `passes` batches of `block`.
fn run_mode(
    path: &Path,
    scan: Scan,
    params: SearchParams<'_>,
    queries: &[f32],
    block: &[f32],
    passes: usize,
) -> Result<ModeRun> {
    let start = Instant::now();
    let db = Db::open_read_only_scan(path, scan)?;
    let open_s = start.elapsed().as_secs_f64();
    let resident_bytes = db.stats()?.resident_bytes;
    let dim = db.dim();
    db.search_batch(&queries[..dim], params)?;
    let mut latencies = Vec::with_capacity(queries.len() / dim);
    let mut rescored = Vec::with_capacity(queries.len() / dim);
    let mut hits = Vec::with_capacity(queries.len() / dim);
    for query in queries.chunks_exact(dim) {
        let before = db.rescored_rows();
        let t = Instant::now();
        let found = std::hint::black_box(db.search_batch(query, params)?);
        latencies.push(t.elapsed().as_secs_f64());
        rescored.push((db.rescored_rows() - before) as f64);
        hits.extend(found);
    }
    let (p50, p95) = percentiles(&mut latencies);
    db.search_batch(block, params)?;
    let t = Instant::now();
    for _ in 0..passes {
        std::hint::black_box(db.search_batch(block, params)?);
    }
    let batch_s = t.elapsed().as_secs_f64() / passes as f64;
    Ok(ModeRun {
        open_s,
        p50,
        p95,
        batch_s,
        resident_bytes,
        rescored,
        hits,
    })
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
        scan: super::scan_flag(m)?,
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

    let file_bytes = std::fs::metadata(store.join(nidus_format::DATA_FILE))?.len();
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
    // Batches of 64 queries: enough passes for about a second of f32.
    let mut block = Vec::with_capacity(BATCH_QUERIES * dim);
    for _ in 0..BATCH_QUERIES {
        points.point(&mut block);
    }
    let passes = {
        let db = Db::open_read_only_scan(&store, Scan::F32)?;
        let t = Instant::now();
        db.search_batch(&block, params)?;
        ((1.0 / t.elapsed().as_secs_f64().max(1e-6)) as usize).clamp(1, 20)
    };
    // Both modes, one after the other (never both in memory).
    let f32_run = run_mode(&store, Scan::F32, params, &queries, &block, passes)?;
    say(
        verbose,
        &format!(
            "bench: f32  open {:.3} s, single queries p50 {:.2} ms, 64-query batches {:.0} queries/s",
            f32_run.open_s,
            f32_run.p50 * 1e3,
            BATCH_QUERIES as f64 / f32_run.batch_s
        ),
    );
    let int8_run = run_mode(&store, Scan::Int8, params, &queries, &block, passes)?;
    say(
        verbose,
        &format!(
            "bench: int8 open {:.3} s, single queries p50 {:.2} ms, 64-query batches {:.0} queries/s",
            int8_run.open_s,
            int8_run.p50 * 1e3,
            BATCH_QUERIES as f64 / int8_run.batch_s
        ),
    );
    for (i, (a, b)) in f32_run.hits.iter().zip(&int8_run.hits).enumerate() {
        if !same_hits(a, b) {
            bail!("query {i}: the int8 hits differ from the f32 hits: {a:?} vs {b:?}");
        }
    }
    say(
        verbose,
        &format!(
            "bench: ingest {ingest_s:.2} s; int8 hits identical to f32 for all {} queries",
            config.queries
        ),
    );
    let main = match config.scan {
        Scan::Int8 => &int8_run,
        _ => &f32_run,
    };
    let (p50, p95) = (main.p50, main.p95);
    let open_s = main.open_s;
    let batch_s = main.batch_s;
    let matrix_bytes = (n * dim * 4) as f64;
    let batch_qps = BATCH_QUERIES as f64 / batch_s;
    let batch_gflops = 2.0 * (n * dim * BATCH_QUERIES) as f64 / batch_s / 1e9;
    let mut rescored = int8_run.rescored.clone();
    let rescored_mean = rescored.iter().sum::<f64>() / rescored.len().max(1) as f64;
    rescored.sort_by(f64::total_cmp);
    let rescored_p99 = rescored[((rescored.len() - 1) as f64 * 0.99).round() as usize];

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
        int8_open_gb_per_s: file_bytes as f64 / int8_run.open_s.max(1e-9) / 1e9,
        int8_query_p50_ms: int8_run.p50 * 1e3,
        int8_batch_queries_per_s: BATCH_QUERIES as f64 / int8_run.batch_s.max(1e-9),
        int8_rescored_rows_per_query: rescored_mean,
        int8_rescored_rows_p99: rescored_p99,
        f32_resident_bytes: f32_run.resident_bytes,
        int8_resident_bytes: int8_run.resident_bytes,
    })
}

/// The median and 95th percentile of `samples` (sorted in place; not empty).
/// Whether two hit lists are equal hit for hit with scores equal to the
/// bit (`==` on `f32` alone would take -0.0 for 0.0): what "the scan modes
/// agree" means in `bench` and `demo`.
pub(crate) fn same_hits(a: &[Hit], b: &[Hit]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(x, y)| x == y && x.score.to_bits() == y.score.to_bits())
}

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
    out.push_str(",\"scan\":");
    json::write_str(&mut out, scan_name(c.scan));
    num(&mut out, "int8_open_gb_per_s", r.int8_open_gb_per_s);
    num(&mut out, "int8_query_p50_ms", r.int8_query_p50_ms);
    num(
        &mut out,
        "int8_batch_queries_per_s",
        r.int8_batch_queries_per_s,
    );
    num(
        &mut out,
        "int8_rescored_rows_per_query",
        r.int8_rescored_rows_per_query,
    );
    num(&mut out, "int8_rescored_rows_p99", r.int8_rescored_rows_p99);
    out.push_str(&format!(
        ",\"f32_resident_bytes\":{},\"int8_resident_bytes\":{}",
        r.f32_resident_bytes, r.int8_resident_bytes
    ));
    out.push('}');
    out
}

/// `f32` or `int8`, as `--scan` spells it.
pub fn scan_name(scan: Scan) -> &'static str {
    match scan {
        Scan::Int8 => "int8",
        _ => "f32",
    }
}

/// The readable table.
pub fn to_table(r: &BenchReport) -> String {
    let c = r.config;
    let pct = |a: f64, b: f64| if b > 0.0 { a / b * 100.0 } else { 0.0 };
    let mut out = format!(
        "nidus bench: n={} dim={} k={} threads={} tier={} scan={}\n\n",
        group_digits(c.n as u64),
        c.dim,
        c.k,
        r.threads,
        r.tier,
        scan_name(c.scan)
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
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
    row(
        "int8: open",
        format!("{:.2} GB/s", r.int8_open_gb_per_s),
        String::new(),
    );
    row(
        "int8: single query p50",
        format!("{:.2} ms", r.int8_query_p50_ms),
        String::new(),
    );
    row(
        "int8: 64-query batches",
        format!("{:.0} q/s", r.int8_batch_queries_per_s),
        String::new(),
    );
    row(
        "int8: rows rescored per query",
        format!("{:.1}", r.int8_rescored_rows_per_query),
        format!("p99 {:.0}", r.int8_rescored_rows_p99),
    );
    row(
        "memory after open: f32",
        format!("{} B", group_digits(r.f32_resident_bytes)),
        String::new(),
    );
    row(
        "memory after open: int8",
        format!("{} B", group_digits(r.int8_resident_bytes)),
        format!(
            "{:.2}x of f32",
            ratio(r.int8_resident_bytes as f64, r.f32_resident_bytes as f64)
        ),
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
                scan: Scan::F32,
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
            int8_open_gb_per_s: 3.0,
            int8_query_p50_ms: 0.05,
            int8_batch_queries_per_s: 9.0,
            int8_rescored_rows_per_query: 12.5,
            int8_rescored_rows_p99: 30.0,
            f32_resident_bytes: 1000,
            int8_resident_bytes: 300,
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
            "scan",
            "int8_query_p50_ms",
            "int8_batch_queries_per_s",
            "int8_rescored_rows_per_query",
            "int8_rescored_rows_p99",
            "f32_resident_bytes",
            "int8_resident_bytes",
            "int8_open_gb_per_s",
        ] {
            assert!(v.get(key).is_some(), "{key} missing from {text}");
        }
        assert!(text.contains("\"query_p50_ms\":0.123"), "{text}");
        assert!(to_table(&r).contains("avx2"));
    }
}
