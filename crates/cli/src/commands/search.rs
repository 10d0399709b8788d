//! `nidus search STORE [STORE ...] ...`: exact nearest neighbours, one JSON
//! line per query, in query order. Opens the stores read-only (no lock);
//! several stores are searched together and merged into one exact top-k
//! per query (SPEC.md §9.2), each hit naming its store.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use nidus_store::Scan;

use crate::args::Matches;
use crate::db::{Db, Hit, SearchParams};
use crate::formats::{self, Format, RowBatch};
use crate::json::{self, Parser};
use crate::values;
use crate::where_clause;

use super::import::DEFAULT_COLLECTION;

/// How a query is named in the output.
#[derive(Debug, Clone, PartialEq)]
pub enum QueryLabel {
    /// The 0-based position of the query.
    Index(u64),
    /// The query's `"id"` from a JSONL query file.
    Id(String),
}

/// Appends one output line: `{"query": ..., "hits": [...]}` and a newline.
pub fn write_result(out: &mut String, label: &QueryLabel, hits: &[Hit]) {
    write_line(out, label, hits.iter().map(|h| (h, None)), &[]);
}

/// Appends one output line of a search over several stores: each hit also
/// has `"store": "<path as given>"` (`stores[i]` for a hit of store `i`);
/// when `failed` is not empty, the line ends with `"partial": true` and
/// `"failed_stores": [...]`.
pub fn write_merged(
    out: &mut String,
    label: &QueryLabel,
    hits: &[(usize, Hit)],
    stores: &[&str],
    failed: &[&str],
) {
    let hits = hits.iter().map(|(i, h)| (h, Some(stores[*i])));
    write_line(out, label, hits, failed);
}

fn write_line<'a>(
    out: &mut String,
    label: &QueryLabel,
    hits: impl Iterator<Item = (&'a Hit, Option<&'a str>)>,
    failed: &[&str],
) {
    out.push_str("{\"query\":");
    match label {
        QueryLabel::Index(i) => out.push_str(&i.to_string()),
        QueryLabel::Id(id) => json::write_str(out, id),
    }
    out.push_str(",\"hits\":[");
    for (i, (hit, store)) in hits.enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"collection\":");
        json::write_str(out, &hit.collection);
        out.push_str(",\"id\":");
        json::write_str(out, &hit.id);
        out.push_str(",\"score\":");
        json::write_f32(out, hit.score);
        if let Some(store) = store {
            out.push_str(",\"store\":");
            json::write_str(out, store);
        }
        if let Some(attrs) = &hit.attrs {
            out.push_str(",\"attrs\":");
            values::write_attrs(out, attrs);
        }
        out.push('}');
    }
    out.push(']');
    if !failed.is_empty() {
        out.push_str(",\"partial\":true,\"failed_stores\":[");
        for (i, store) in failed.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            json::write_str(out, store);
        }
        out.push(']');
    }
    out.push_str("}\n");
}

/// Parses `--vector`: a JSON array of finite numbers.
pub fn parse_vector(text: &str) -> Result<Vec<f32>, String> {
    let mut v = Vec::new();
    let mut p = Parser::new(text);
    p.f32_array(&mut v)
        .and_then(|()| p.finish())
        .map_err(|e| format!("--vector: {e}"))?;
    if v.is_empty() {
        return Err("--vector: the array is empty".to_owned());
    }
    Ok(v)
}

/// The stores of one search, opened read-only: those that opened, with
/// the path as given, and (with `--allow-partial`) those that did not.
struct Stores<'a> {
    open: Vec<(&'a str, Db)>,
    failed: Vec<&'a str>,
    /// More than one store was given: hits name their store.
    several: bool,
}

impl<'a> Stores<'a> {
    /// Refuses a store given twice (the same directory by its canonical
    /// path), opens every store, and checks they share a dimension. A store
    /// that fails to open fails the search, naming it, unless
    /// `allow_partial`: then it is reported on stderr and left out. Every
    /// store keeps what `scan` says in memory (the hits do not depend on it).
    fn open(
        m: &Matches,
        paths: &'a [String],
        scan: Scan,
        allow_partial: bool,
    ) -> Result<Stores<'a>> {
        let mut seen: Vec<(PathBuf, &str)> = Vec::new();
        for path in paths {
            let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| PathBuf::from(path));
            if let Some((_, earlier)) = seen.iter().find(|(c, _)| *c == canonical) {
                let message = if earlier == path {
                    format!("the store '{path}' is given twice: its hits would count twice")
                } else {
                    format!(
                        "'{earlier}' and '{path}' are the same store: its hits would count twice"
                    )
                };
                return Err(m.usage_error(message).into());
            }
            seen.push((canonical, path));
        }
        let mut open = Vec::new();
        let mut failed = Vec::new();
        for path in paths {
            match Db::open_read_only_scan(Path::new(path), scan) {
                Ok(db) => open.push((path.as_str(), db)),
                Err(e) if allow_partial && paths.len() > 1 => {
                    eprintln!("warning: --allow-partial: leaving out the store {path}: {e:#}");
                    failed.push(path.as_str());
                }
                Err(e) => {
                    return Err(e.context(format!("cannot search the store {path}")));
                }
            }
        }
        if open.is_empty() {
            bail!("none of the {} stores could be opened", paths.len());
        }
        if !failed.is_empty() {
            eprintln!(
                "warning: --allow-partial: results cover {} of {} stores; every output line \
                 says \"partial\": true",
                open.len(),
                paths.len()
            );
        }
        let (first, first_db) = &open[0];
        if let Some((other, db)) = open.iter().find(|(_, db)| db.dim() != first_db.dim()) {
            return Err(m
                .usage_error(format!(
                    "stores searched together must share a dimension, but {first} has {} and \
                     {other} has {}",
                    first_db.dim(),
                    db.dim()
                ))
                .into());
        }
        Ok(Stores {
            open,
            failed,
            several: paths.len() > 1,
        })
    }

    fn dim(&self) -> usize {
        self.open[0].1.dim()
    }

    /// The record `--like` names: from the first store (in the order
    /// given) that has it.
    fn get(&self, collection: &str, id: &str) -> Result<Option<crate::db::Record>> {
        for (_, db) in &self.open {
            if let Some(r) = db.get(collection, id)? {
                return Ok(Some(r));
            }
        }
        Ok(None)
    }

    /// Searches every store and appends one output line per query.
    fn search(
        &self,
        queries: &[f32],
        params: SearchParams<'_>,
        labels: impl Iterator<Item = QueryLabel>,
        out: &mut String,
    ) -> Result<()> {
        if !self.several {
            let results = self.open[0].1.search_batch(queries, params)?;
            for (label, hits) in labels.zip(&results) {
                write_result(out, &label, hits);
            }
            return Ok(());
        }
        let dbs: Vec<&Db> = self.open.iter().map(|(_, db)| db).collect();
        let names: Vec<&str> = self.open.iter().map(|(p, _)| *p).collect();
        let results = Db::search_shards(&dbs, queries, params)?;
        for (label, hits) in labels.zip(&results) {
            write_merged(out, &label, hits, &names, &self.failed);
        }
        Ok(())
    }
}

/// Runs `search`.
pub fn run(m: &Matches) -> Result<()> {
    let sources = ["vector", "queries", "like"]
        .iter()
        .filter(|s| m.value(s).is_some())
        .count();
    if sources != 1 {
        return Err(m
            .usage_error("give exactly one of --vector, --queries and --like")
            .into());
    }
    if m.value("format").is_some() && m.value("queries").is_none() {
        return Err(m.usage_error("--format applies to --queries only").into());
    }
    let k: usize = m.parsed_or("k", 10)?;
    if k == 0 {
        return Err(m.usage_error("--k must be at least 1").into());
    }
    let batch: usize = m.parsed_or("batch", 64)?;
    if !(1..=100_000).contains(&batch) {
        return Err(m.usage_error("--batch must be between 1 and 100000").into());
    }
    let threads: usize = m.parsed_or("threads", 0)?;
    let min_score: Option<f32> = m.parsed("min-score")?;
    if min_score.is_some_and(|s| !s.is_finite()) {
        return Err(m.usage_error("--min-score must be a finite number").into());
    }
    let filter = match m.value("filter") {
        Some(text) => {
            Some(where_clause::parse(text).map_err(|e| m.usage_error(format!("--filter: {e}")))?)
        }
        None => None,
    };
    let vector = match m.value("vector") {
        Some(text) => Some(parse_vector(text).map_err(|e| m.usage_error(e))?),
        None => None,
    };
    let collections: Vec<String> = m
        .values("collection")
        .iter()
        .map(|s| s.to_string())
        .collect();
    if collections.iter().any(String::is_empty) {
        return Err(m.usage_error("--collection must not be empty").into());
    }
    let queries_format = match m.value("queries") {
        Some(file) => Some(
            Format::resolve(m.value("format"), Path::new(file)).map_err(|e| m.usage_error(e))?,
        ),
        None => None,
    };

    let scan = super::scan_flag(m)?;
    let stores = Stores::open(m, &m.positionals, scan, m.switch("allow-partial"))?;
    let params = SearchParams {
        k,
        collections: &collections,
        filter: filter.as_ref(),
        min_score,
        threads,
        with_attrs: m.switch("attrs"),
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut text = String::new();
    let first = || std::iter::once(QueryLabel::Index(0));

    if let Some(v) = vector {
        check_dim(&stores, v.len(), "--vector")?;
        stores.search(&v, params, first(), &mut text)?;
    } else if let Some(id) = m.value("like") {
        let collection = collections
            .first()
            .map_or(DEFAULT_COLLECTION, String::as_str);
        let record = stores.get(collection, id)?.with_context(|| {
            let place = if stores.several { " of any store" } else { "" };
            format!("--like: no record '{id}' in collection '{collection}'{place}")
        })?;
        stores.search(&record.vector, params, first(), &mut text)?;
    } else if let (Some(file), Some(format)) = (m.value("queries"), queries_format) {
        let mut reader = formats::open_reader(Path::new(file), format)?;
        let mut rows = RowBatch::default();
        let mut index = 0u64;
        while reader.read_batch(batch, &mut rows)? > 0 {
            check_dim(&stores, rows.dim, file)?;
            let labels = rows.rows.iter().map(|row| {
                let label = match (&row.id, format) {
                    (Some(id), Format::Jsonl) => QueryLabel::Id(id.clone()),
                    _ => QueryLabel::Index(index),
                };
                index += 1;
                label
            });
            stores.search(&rows.vectors, params, labels, &mut text)?;
            out.write_all(text.as_bytes())?;
            text.clear();
        }
    }
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

fn check_dim(stores: &Stores<'_>, got: usize, what: &str) -> Result<()> {
    if got != stores.dim() {
        let whose = if stores.several {
            "the stores' dimension"
        } else {
            "the store's dimension"
        };
        bail!(
            "{what}: queries have {got} values, {whose} is {}",
            stores.dim()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_line_format() {
        let mut out = String::new();
        let hits = vec![
            Hit {
                collection: "default".into(),
                id: "a\"".into(),
                score: 0.5,
                attrs: None,
            },
            Hit {
                collection: "c".into(),
                id: "b".into(),
                score: -0.25,
                attrs: Some([("k".to_owned(), nidus_format::Value::Int(1))].into()),
            },
        ];
        write_result(&mut out, &QueryLabel::Index(3), &hits);
        write_result(&mut out, &QueryLabel::Id("q1".into()), &[]);
        assert_eq!(
            out,
            "{\"query\":3,\"hits\":[{\"collection\":\"default\",\"id\":\"a\\\"\",\"score\":0.5},\
             {\"collection\":\"c\",\"id\":\"b\",\"score\":-0.25,\"attrs\":{\"k\":1}}]}\n\
             {\"query\":\"q1\",\"hits\":[]}\n"
        );
        for line in out.lines() {
            assert!(json::parse(line).is_ok());
        }
    }

    #[test]
    fn merged_line_names_stores_and_failures() {
        let hit = |id: &str, score: f32| Hit {
            collection: "default".into(),
            id: id.into(),
            score,
            attrs: None,
        };
        let hits = [(1, hit("a", 0.75)), (0, hit("b", 0.5))];
        let mut out = String::new();
        write_merged(&mut out, &QueryLabel::Index(0), &hits, &["s0", "s\"1"], &[]);
        write_merged(
            &mut out,
            &QueryLabel::Index(1),
            &[],
            &["s0"],
            &["gone", "bad"],
        );
        assert_eq!(
            out,
            "{\"query\":0,\"hits\":[{\"collection\":\"default\",\"id\":\"a\",\"score\":0.75,\"store\":\"s\\\"1\"},\
             {\"collection\":\"default\",\"id\":\"b\",\"score\":0.5,\"store\":\"s0\"}]}\n\
             {\"query\":1,\"hits\":[],\"partial\":true,\"failed_stores\":[\"gone\",\"bad\"]}\n"
        );
        for line in out.lines() {
            assert!(json::parse(line).is_ok());
        }
    }

    #[test]
    fn vector_argument() {
        assert_eq!(parse_vector("[1, -0.5, 2e0]").unwrap(), [1.0, -0.5, 2.0]);
        assert!(parse_vector("[]").unwrap_err().contains("empty"));
        assert!(parse_vector("[1, NaN]").unwrap_err().contains("NaN"));
        assert!(parse_vector("[1] 2").unwrap_err().contains("column 5"));
        assert!(parse_vector("1,2").is_err());
    }
}
