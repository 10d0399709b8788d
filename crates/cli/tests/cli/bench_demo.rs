//! `nidus bench --json` and `nidus demo`.

use crate::common::{int, ok};
use nidus_cli::json::{self, Json};

#[test]
fn bench_json_has_every_key() {
    let out = ok(&[
        "bench",
        "--n",
        "500",
        "--dim",
        "8",
        "--queries",
        "3",
        "--batch",
        "100",
        "--json",
    ]);
    let v = json::parse(out.trim()).unwrap();
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
        "kernel_query_p50_ms",
        "kernel_batch_queries_per_s",
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
        assert!(v.get(key).is_some(), "{key} missing: {out}");
    }
    assert_eq!(int(v.get("n")), 500);
    assert_eq!(int(v.get("dim")), 8);
    assert!(matches!(v.get("tier"), Some(Json::Str(t)) if !t.is_empty()));
}

/// The main job end to end (slow in debug: run with
/// `cargo test --release -p nidus-cli -- --ignored`).
#[test]
#[ignore]
fn demo_runs_to_the_end() {
    let out = ok(&["demo"]);
    for step in [
        "import", "reopen", "search", "filtered", "scoped", "batch", "scan", "delete", "compact",
        "verify",
    ] {
        assert!(
            out.contains(&format!("  {step} ")),
            "{step} missing:\n{out}"
        );
    }
    assert!(
        out.contains("nearest hit in the query's cluster for 1024/1024"),
        "{out}"
    );
    assert!(out.contains("identical hits, scores to the bit"), "{out}");
    assert!(out.contains("\ndone in "), "{out}");
}
