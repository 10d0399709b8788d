//! Criterion benches for the store layer (issue #5 targets).
//!
//! Run: `cargo bench --bench store` (a few minutes). `NIDUS_BENCH_ROWS`
//! sets the size of the open/search store (default 1,000,000 x 384).
//!
//! - `ingest/fsync-baseline`: the disk's fsync'd write bandwidth, measured
//!   in the same run, writing the same bytes in the same chunks as the
//!   durable ingest (what "85% of the disk" is relative to);
//! - `ingest/memory-baseline`: appending the same vectors to a growing
//!   `Vec<f32>` (fresh memory, page faults and all): what an in-memory
//!   index such as faiss pays at least, the yardstick for deferred ingest;
//! - `ingest/durable` and `ingest/deferred`: 100k x 384 in batches of 10,000;
//! - `open/read-baseline`: `std::fs::read` of the page-cached data file into
//!   fresh memory, the yardstick for `open/read-only`, a page-cache-warm
//!   open of the big store;
//! - `search/*`: store search (unfiltered, one collection, filtered) against
//!   the bare kernel on the same matrix; `search_batch/*`: 16 queries;
//! - `compact`: 100k x 384 with 30% dead rows.
#![allow(missing_docs)]

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use nidus::kernel::{ScanOptions, top_k, top_k_batch};
use nidus::{Durability, Filter, Options, Record, Search, Store};
use nidus_testkit::Rng;

const DIM: usize = 384;
const BATCH: usize = 10_000;
const INGEST_ROWS: usize = 100_000;

fn big_rows() -> usize {
    std::env::var("NIDUS_BENCH_ROWS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000)
}

/// Deterministic pseudo-random vectors (the shared xorshift64*).
fn vectors(seed: u64, rows: usize) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    (0..rows * DIM)
        .map(|_| (rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32 - 0.5)
        .collect()
}

fn batch_records(start: usize, flat: &[f32]) -> Vec<Record> {
    flat.chunks_exact(DIM)
        .enumerate()
        .map(|(i, v)| {
            let n = start + i;
            Record::new(format!("doc-{n}"), v)
                .attr("path", format!("src/{}/{n}.rs", n % 10))
                .attr("n", n as i64)
        })
        .collect()
}

/// Times the upserts only: for deferred sync, the final `flush()` (one
/// fsync of everything) happens after the clock stops, as in a bulk load
/// that syncs once at the end.
fn ingest(dir: &Path, durability: Durability, batches: &[Vec<Record>]) -> Duration {
    let mut store = Store::open(dir, Options::new(DIM).durability(durability)).unwrap();
    let t = Instant::now();
    for b in batches {
        store.upsert("docs", b).unwrap();
    }
    let elapsed = t.elapsed();
    store.flush().unwrap();
    elapsed
}

fn bench_ingest(c: &mut Criterion) {
    let flat = vectors(1, INGEST_ROWS);
    let batches: Vec<Vec<Record>> = flat
        .chunks(BATCH * DIM)
        .enumerate()
        .map(|(i, chunk)| batch_records(i * BATCH, chunk))
        .collect();
    let bytes_per_batch = BATCH * DIM * 4;
    let mut g = c.benchmark_group("ingest");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.throughput(Throughput::Elements(INGEST_ROWS as u64));
    g.bench_function("fsync-baseline", |b| {
        let chunk = vec![0x5Au8; bytes_per_batch];
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let dir = tempfile::tempdir().unwrap();
                let mut f = std::fs::File::create(dir.path().join("raw")).unwrap();
                let t = Instant::now();
                for _ in 0..INGEST_ROWS / BATCH {
                    f.write_all(&chunk).unwrap();
                    f.sync_data().unwrap();
                }
                total += t.elapsed();
            }
            total
        })
    });
    g.bench_function("memory-baseline", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let t = Instant::now();
                let mut all: Vec<f32> = Vec::new();
                for batch in &batches {
                    for r in batch {
                        all.extend_from_slice(&r.vector);
                    }
                }
                total += t.elapsed();
                drop(std::hint::black_box(all));
            }
            total
        })
    });
    for (name, d) in [
        ("durable", Durability::Sync),
        ("deferred", Durability::Deferred),
    ] {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let dir = tempfile::tempdir().unwrap();
                    total += ingest(dir.path(), d, &batches);
                }
                total
            })
        });
    }
    g.finish();
}

/// Builds the big store once (deferred sync), returns its directory.
fn big_store(rows: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(
        dir.path(),
        Options::new(DIM).durability(Durability::Deferred),
    )
    .unwrap();
    let mut start = 0;
    while start < rows {
        let n = BATCH.min(rows - start);
        let flat = vectors(start as u64 + 7, n);
        store.upsert("docs", &batch_records(start, &flat)).unwrap();
        start += n;
    }
    store.flush().unwrap();
    dir
}

fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

fn bench_open_search(c: &mut Criterion) {
    let rows = big_rows();
    let dir = big_store(rows);
    let file_bytes = std::fs::metadata(dir.path().join(nidus::format::DATA_FILE))
        .unwrap()
        .len();

    let mut g = c.benchmark_group("open");
    g.sample_size(10).measurement_time(Duration::from_secs(15));
    g.throughput(Throughput::Bytes(file_bytes));
    let data_file = dir.path().join(nidus::format::DATA_FILE);
    g.bench_function(BenchmarkId::new("read-baseline", rows), |b| {
        b.iter_with_large_drop(|| std::fs::read(&data_file).unwrap())
    });
    g.bench_function(BenchmarkId::new("read-only", rows), |b| {
        // The store is dropped (1.5 GB unmapped) outside the timing.
        b.iter_with_large_drop(|| Store::open(dir.path(), Options::new(DIM).read_only()).unwrap())
    });
    g.finish();

    let rss_before = rss_bytes();
    let store = Store::open(dir.path(), Options::new(DIM).read_only()).unwrap();
    let rss_after = rss_bytes();
    let fp = store.footprint();
    let raw = rows * DIM * 4;
    eprintln!(
        "memory after open of {rows} x {DIM}: footprint {} bytes = {:.3} x raw vectors \
         (vectors {}, ids {}, attrs {}, index {}); RSS grew by {:?} bytes",
        fp.total_bytes,
        fp.total_bytes as f64 / raw as f64,
        fp.vector_bytes,
        fp.id_bytes,
        fp.attr_bytes,
        fp.index_bytes,
        rss_before.zip(rss_after).map(|(a, b)| b.saturating_sub(a)),
    );

    // The same matrix for the bare kernel.
    let matrix: Vec<f32> = store
        .records("docs")
        .unwrap()
        .flat_map(|r| r.vector().to_vec())
        .collect();
    let queries = vectors(99, 16);
    let q = &queries[..DIM];
    let mut g = c.benchmark_group("search");
    g.sample_size(20).measurement_time(Duration::from_secs(10));
    g.throughput(Throughput::Elements(rows as u64));
    g.bench_function("kernel", |b| {
        b.iter(|| top_k(q, &matrix, DIM, &ScanOptions::top(10)).unwrap())
    });
    g.bench_function("store", |b| {
        b.iter(|| store.search(q, Search::top(10)).unwrap())
    });
    g.bench_function("store-collection", |b| {
        b.iter(|| store.search(q, Search::top(10).collection("docs")).unwrap())
    });
    let filter = Filter::glob("path", "src/3/*");
    g.bench_function("store-filter-10pct", |b| {
        b.iter(|| {
            store
                .search(q, Search::top(10).filter(filter.clone()))
                .unwrap()
        })
    });
    g.finish();

    let mut g = c.benchmark_group("search_batch");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.throughput(Throughput::Elements((rows * 16) as u64));
    g.bench_function("kernel-16", |b| {
        b.iter(|| top_k_batch(&queries, &matrix, DIM, &ScanOptions::top(10)).unwrap())
    });
    let qs: Vec<&[f32]> = queries.chunks_exact(DIM).collect();
    g.bench_function("store-16", |b| {
        b.iter(|| store.search_batch(&qs, Search::top(10)).unwrap())
    });
    g.finish();
}

fn bench_compact(c: &mut Criterion) {
    let mut g = c.benchmark_group("compact");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.throughput(Throughput::Elements(INGEST_ROWS as u64));
    let flat = vectors(3, INGEST_ROWS);
    let records = batch_records(0, &flat);
    g.bench_function("100k-30pct-dead", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let dir = tempfile::tempdir().unwrap();
                let opts = Options::new(DIM)
                    .durability(Durability::Deferred)
                    .no_auto_compact();
                let mut store = Store::open(dir.path(), opts).unwrap();
                for chunk in records.chunks(BATCH) {
                    store.upsert("docs", chunk).unwrap();
                }
                store
                    .upsert("docs", &records[..INGEST_ROWS * 3 / 10])
                    .unwrap();
                let t = Instant::now();
                store.compact().unwrap();
                total += t.elapsed();
            }
            total
        })
    });
    g.finish();
}

criterion_group!(benches, bench_ingest, bench_open_search, bench_compact);
criterion_main!(benches);
