//! `nidus demo`: the main job in one command. Builds a store in a temporary
//! directory from generated data with real structure, and walks through
//! every feature with timings: import (JSONL and npy) with progress, reopen,
//! plain / filtered / scoped / batched searches, the two scan modes side by
//! side, delete, compact, verify.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result, bail, ensure};
use nidus_format::Value;
use nidus_store::Scan;

use crate::args::Matches;
use crate::db::{Db, Hit, SearchParams};
use crate::formats::{self, Format};
use crate::json;
use crate::progress::group_digits;
use crate::synth::Clustered;
use crate::tempdir::TempDir;
use crate::values;
use crate::where_clause::{self, Where};

use super::bench::same_hits;
use super::import::import_file;

/// The demo's size: large enough to show throughput, small enough to run
/// in seconds.
const DOCS: u64 = 50_000;
const NOTES: u64 = 5_000;
const DIM: usize = 384;
const CLUSTERS: usize = 16;

/// Runs `demo`.
pub fn run(_m: &Matches) -> Result<()> {
    let total = Instant::now();
    let dir = TempDir::new("nidus-demo")?;
    let store = dir.path().join("store");
    outln!(
        "nidus demo: {} + {} clustered {DIM}-d vectors with attributes, in {}",
        group_digits(DOCS),
        group_digits(NOTES),
        dir.path().display()
    );
    let mut points = Clustered::new(DIM, CLUSTERS, 0.35, 2026);

    // 1. Generate the input files, as an embedding pipeline would.
    let t = Instant::now();
    let docs = dir.path().join("docs.jsonl");
    let docs_bytes = write_docs(&docs, &mut points)?;
    let notes = dir.path().join("notes.npy");
    write_notes(&notes, &mut points)?;
    step(
        "generate",
        t,
        &format!(
            "docs.jsonl ({:.0} MB, attrs: source, year, score, path, tags, draft) and notes.npy",
            docs_bytes as f64 / 1e6
        ),
    )?;

    // 2. Import both, in durable batches of 10,000 rows.
    let s = import_file(
        &store,
        &docs,
        Format::Jsonl,
        10_000,
        Some("docs"),
        None,
        true,
    )?;
    outln!(
        "  {:<9} {:>8.2} s  {} rows from docs.jsonl into 'docs': {} rows/s, {:.0} MB/s",
        "import",
        s.seconds,
        group_digits(s.rows),
        group_digits(s.rows_per_s() as u64),
        s.mb_per_s()
    );
    let s = import_file(
        &store,
        &notes,
        Format::Npy,
        10_000,
        Some("notes"),
        None,
        true,
    )?;
    outln!(
        "  {:<9} {:>8.2} s  {} rows from notes.npy into 'notes': {} rows/s",
        "import",
        s.seconds,
        group_digits(s.rows),
        group_digits(s.rows_per_s() as u64)
    );

    // 3. Reopen (read-only, as a searcher process would).
    let t = Instant::now();
    let db = Db::open_read_only(&store)?;
    let stats = db.stats()?;
    let secs = t.elapsed().as_secs_f64();
    step(
        "reopen",
        t,
        &format!(
            "{} records ({}), {:.1} MB file, {:.2} GB/s",
            group_digits(stats.records),
            stats
                .collections
                .iter()
                .map(|(name, n)| format!("{name}: {}", group_digits(*n)))
                .collect::<Vec<_>>()
                .join(", "),
            stats.file_bytes as f64 / 1e6,
            stats.file_bytes as f64 / secs.max(1e-9) / 1e9
        ),
    )?;
    ensure!(
        stats.records == DOCS + NOTES,
        "expected {} records after import, found {}",
        DOCS + NOTES,
        stats.records
    );

    // 4. Plain search: a new point of cluster 3 finds its cluster.
    let cluster = 3;
    let mut query = Vec::with_capacity(DIM);
    points.point_in(cluster, &mut query);
    let all = SearchParams {
        k: 5,
        collections: &[],
        filter: None,
        min_score: None,
        threads: 0,
        with_attrs: true,
    };
    let t = Instant::now();
    let hits = db.search_batch(&query, all)?.remove(0);
    step(
        "search",
        t,
        &format!("top 5 of {} (all collections)", group_digits(stats.records)),
    )?;
    show_hits(&hits)?;
    let expected_tag = format!("cluster-{cluster}");
    ensure!(
        hits.first().is_some_and(|h| has_tag(h, &expected_tag)),
        "the nearest record of a cluster-{cluster} query is not in cluster {cluster}"
    );

    // 5. Filtered search.
    let where_text = r#"{"source": "wiki", "year": {"$gte": 2020}}"#;
    let wiki: Where = where_clause::parse(where_text).map_err(anyhow::Error::msg)?;
    let t = Instant::now();
    let hits = db
        .search_batch(
            &query,
            SearchParams {
                filter: Some(&wiki),
                ..all
            },
        )?
        .remove(0);
    step("filtered", t, &format!("top 5 where {where_text}"))?;
    show_hits(&hits)?;
    ensure!(
        hits.len() == 5,
        "the filtered search found {} hits",
        hits.len()
    );
    for h in &hits {
        let attrs = h.attrs.as_ref().context("hits carry attributes")?;
        ensure!(
            attrs.get("source") == Some(&Value::from("wiki"))
                && matches!(attrs.get("year"), Some(Value::Int(y)) if *y >= 2020),
            "hit {} does not match the filter",
            h.id
        );
    }

    // 6. Scoped search: one collection.
    let notes_only = ["notes".to_owned()];
    let t = Instant::now();
    let hits = db
        .search_batch(
            &query,
            SearchParams {
                collections: &notes_only,
                ..all
            },
        )?
        .remove(0);
    step("scoped", t, "top 5 in collection 'notes' only")?;
    show_hits(&hits)?;
    ensure!(
        hits.iter().all(|h| h.collection == "notes"),
        "a scoped search returned a hit from another collection"
    );

    // 7. Batched search: 1,024 queries, 64 per pass over the data.
    let queries = 1024;
    let mut block = Vec::with_capacity(queries * DIM);
    let mut truth = Vec::with_capacity(queries);
    for i in 0..queries {
        let c = i % CLUSTERS;
        points.point_in(c, &mut block);
        truth.push(format!("cluster-{c}"));
    }
    let docs_only = ["docs".to_owned()];
    let params = SearchParams {
        k: 10,
        collections: &docs_only,
        with_attrs: true,
        ..all
    };
    let t = Instant::now();
    let mut found = 0;
    for (chunk, tags) in block.chunks(64 * DIM).zip(truth.chunks(64)) {
        let results = db.search_batch(chunk, params)?;
        found += results
            .iter()
            .zip(tags)
            .filter(|(hits, tag)| hits.first().is_some_and(|h| has_tag(h, tag)))
            .count();
    }
    let secs = t.elapsed().as_secs_f64();
    step(
        "batch",
        t,
        &format!(
            "{queries} queries, 64 per pass, top 10 in 'docs': {:.0} queries/s, {:.1} GFLOP/s; \
             nearest hit in the query's cluster for {found}/{queries}",
            queries as f64 / secs.max(1e-9),
            2.0 * (DOCS as f64) * (DIM as f64) * queries as f64 / secs.max(1e-9) / 1e9
        ),
    )?;
    ensure!(
        found * 100 >= queries * 99,
        "only {found} of {queries} queries found their own cluster first"
    );

    // 8. The same searches from int8 codes, side by side with f32.
    let t = Instant::now();
    let side = compare_scans(&db, &store, &query, &block, params, stats.resident_bytes)?;
    step(
        "scan",
        t,
        "f32 vectors and int8 codes (exact rescoring from the file), side by side",
    )?;
    outln!("{side}");
    drop(db);

    // 9. Delete by filter, then by id.
    let drafts = where_clause::parse(r#"{"draft": true}"#).map_err(anyhow::Error::msg)?;
    let t = Instant::now();
    let mut db = Db::open_writable(&store)?;
    let deleted = db.delete_where(None, &drafts)?;
    let by_id = db.delete_ids("notes", &["0".to_owned(), "1".to_owned()])?;
    step(
        "delete",
        t,
        &format!(
            "{} records where {{\"draft\": true}}, then {by_id} notes by id",
            group_digits(deleted)
        ),
    )?;
    ensure!(
        deleted > 0 && by_id == 2,
        "delete removed {deleted} + {by_id}"
    );
    ensure!(
        db.get("notes", "0")?.is_none(),
        "a deleted record is still there"
    );

    // 10. Compact.
    let t = Instant::now();
    let (before, after) = db.compact()?;
    step(
        "compact",
        t,
        &format!(
            "{:.1} MB -> {:.1} MB",
            before as f64 / 1e6,
            after as f64 / 1e6
        ),
    )?;
    let live = db.stats()?;
    drop(db);
    ensure!(
        live.records == DOCS + NOTES - deleted - by_id && live.dead == 0,
        "after compaction: {live:?}"
    );

    // 11. Verify every byte.
    let t = Instant::now();
    let report = Db::verify(&store)?;
    if let Some(damage) = report.damage {
        bail!("verify found damage: {damage:?}");
    }
    step(
        "verify",
        t,
        &format!(
            "intact: {} batches, {:.1} MB checked",
            report.batches,
            report.valid_bytes as f64 / 1e6
        ),
    )?;
    outln!(
        "done in {:.1} s ({} live records; the directory is removed now)",
        total.elapsed().as_secs_f64(),
        group_digits(live.records)
    );
    Ok(())
}

/// Opens the store again with `Scan::Int8` and measures it beside `f32`
/// (the open `db`): memory, reopen, single-query latency (median of 21)
/// and batches of 64 of `block`. Fails unless every hit is identical.
fn compare_scans(
    f32_db: &Db,
    store: &Path,
    query: &[f32],
    block: &[f32],
    params: SearchParams<'_>,
    f32_resident: u64,
) -> Result<String> {
    let t = Instant::now();
    let f32_again = Db::open_read_only_scan(store, Scan::F32)?;
    let f32_open = t.elapsed().as_secs_f64();
    drop(f32_again);
    let t = Instant::now();
    let int8_db = Db::open_read_only_scan(store, Scan::Int8)?;
    let int8_open = t.elapsed().as_secs_f64();
    let int8_resident = int8_db.stats()?.resident_bytes;
    let single = SearchParams {
        k: 10,
        collections: &[],
        ..params
    };
    let median = |db: &Db| -> Result<(f64, Vec<Hit>)> {
        let mut times = Vec::new();
        let mut hits = Vec::new();
        for _ in 0..21 {
            let t = Instant::now();
            hits = db.search_batch(query, single)?.remove(0);
            times.push(t.elapsed().as_secs_f64());
        }
        times.sort_by(f64::total_cmp);
        Ok((times[times.len() / 2], hits))
    };
    let (f32_p50, f32_hits) = median(f32_db)?;
    let before = int8_db.rescored_rows();
    let (int8_p50, int8_hits) = median(&int8_db)?;
    let rescored = (int8_db.rescored_rows() - before) as f64 / 21.0;
    ensure!(
        same_hits(&f32_hits, &int8_hits),
        "int8 and f32 disagree on the query"
    );
    let batches = |db: &Db| -> Result<(f64, Vec<Vec<Hit>>)> {
        let t = Instant::now();
        let mut all = Vec::new();
        for chunk in block.chunks(64 * DIM) {
            all.extend(db.search_batch(chunk, params)?);
        }
        Ok((
            block.len() as f64 / DIM as f64 / t.elapsed().as_secs_f64().max(1e-9),
            all,
        ))
    };
    let (f32_qps, f32_all) = batches(f32_db)?;
    let (int8_qps, int8_all) = batches(&int8_db)?;
    ensure!(
        f32_all.len() == int8_all.len()
            && f32_all.iter().zip(&int8_all).all(|(a, b)| same_hits(a, b)),
        "int8 and f32 disagree on a batched query"
    );
    let mb = |b: u64| b as f64 / 1e6;
    let mut out = String::new();
    out.push_str(&format!("{:>33} {:>12} {:>12}\n", "", "f32", "int8"));
    let mut row = |what: &str, a: String, b: String, note: String| {
        out.push_str(&format!("    {what:<28} {a:>12} {b:>12}  {note}\n"));
    };
    row(
        "memory after open",
        format!("{:.1} MB", mb(f32_resident)),
        format!("{:.1} MB", mb(int8_resident)),
        format!("{:.2}x", int8_resident as f64 / f32_resident.max(1) as f64),
    );
    row(
        "reopen",
        format!("{f32_open:.3} s"),
        format!("{int8_open:.3} s"),
        String::new(),
    );
    row(
        "single query p50 (top 10)",
        format!("{:.2} ms", f32_p50 * 1e3),
        format!("{:.2} ms", int8_p50 * 1e3),
        format!("{rescored:.0} rows rescored from the file"),
    );
    row(
        "64-query batches",
        format!("{f32_qps:.0} q/s"),
        format!("{int8_qps:.0} q/s"),
        String::new(),
    );
    out.push_str(&format!(
        "    identical hits, scores to the bit, for all {} queries",
        1 + block.len() / DIM
    ));
    Ok(out)
}

fn step(name: &str, start: Instant, what: &str) -> Result<()> {
    outln!(
        "  {name:<9} {:>8.3} s  {what}",
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

fn has_tag(hit: &Hit, tag: &str) -> bool {
    matches!(
        hit.attrs.as_ref().and_then(|a| a.get("tags")),
        Some(Value::List(tags)) if tags.iter().any(|t| t == tag)
    )
}

fn show_hits(hits: &[Hit]) -> Result<()> {
    for h in hits {
        let mut attrs = String::new();
        if let Some(a) = &h.attrs {
            for key in ["source", "year", "tags"] {
                if let Some(v) = a.get(key) {
                    attrs.push_str(&format!(" {key}="));
                    values::write_value(&mut attrs, v);
                }
            }
        }
        outln!(
            "              {:.4}  {}/{}{attrs}",
            h.score,
            h.collection,
            h.id
        );
    }
    Ok(())
}

/// Writes the docs as JSONL (what an embedding pipeline would hand over).
fn write_docs(path: &Path, points: &mut Clustered) -> Result<u64> {
    let mut out = BufWriter::with_capacity(1 << 20, File::create(path)?);
    let mut v = Vec::with_capacity(DIM);
    let mut line = String::new();
    for i in 0..DOCS {
        v.clear();
        let c = points.point(&mut v);
        line.clear();
        line.push_str("{\"id\":");
        json::write_str(&mut line, &format!("doc-{i}"));
        line.push_str(",\"vector\":[");
        for (j, x) in v.iter().enumerate() {
            if j > 0 {
                line.push(',');
            }
            json::write_f32(&mut line, *x);
        }
        line.push_str("],\"attrs\":");
        values::write_attrs(&mut line, &points.attrs(i, c));
        line.push_str("}\n");
        out.write_all(line.as_bytes())?;
    }
    out.flush()?;
    Ok(std::fs::metadata(path)?.len())
}

/// Writes the notes as an npy matrix (vectors only; ids are row numbers).
fn write_notes(path: &Path, points: &mut Clustered) -> Result<()> {
    let mut w = formats::create_writer(File::create(path)?, Format::Npy, DIM)?;
    let none = Default::default();
    let mut v = Vec::with_capacity(DIM);
    for _ in 0..NOTES {
        v.clear();
        points.point(&mut v);
        w.write_row("", "", &v, &none)?;
    }
    w.finish()?;
    Ok(())
}
