//! `nidus search STORE ...`: exact nearest neighbours, one JSON line per
//! query, in query order. Opens the store read-only (no lock).

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result, bail};

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
    out.push_str("{\"query\":");
    match label {
        QueryLabel::Index(i) => out.push_str(&i.to_string()),
        QueryLabel::Id(id) => json::write_str(out, id),
    }
    out.push_str(",\"hits\":[");
    for (i, hit) in hits.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str("{\"collection\":");
        json::write_str(out, &hit.collection);
        out.push_str(",\"id\":");
        json::write_str(out, &hit.id);
        out.push_str(",\"score\":");
        json::write_f32(out, hit.score);
        if let Some(attrs) = &hit.attrs {
            out.push_str(",\"attrs\":");
            values::write_attrs(out, attrs);
        }
        out.push('}');
    }
    out.push_str("]}\n");
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

/// Runs `search`.
pub fn run(m: &Matches) -> Result<()> {
    let store = Path::new(&m.positionals[0]);
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

    let db = Db::open_read_only(store)?;
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

    if let Some(v) = vector {
        check_dim(&db, v.len(), "--vector")?;
        let hits = db.search_batch(&v, params)?;
        write_result(
            &mut text,
            &QueryLabel::Index(0),
            hits.first().map_or(&[][..], Vec::as_slice),
        );
    } else if let Some(id) = m.value("like") {
        let collection = collections
            .first()
            .map_or(DEFAULT_COLLECTION, String::as_str);
        let record = db
            .get(collection, id)?
            .with_context(|| format!("--like: no record '{id}' in collection '{collection}'"))?;
        let hits = db.search_batch(&record.vector, params)?;
        write_result(
            &mut text,
            &QueryLabel::Index(0),
            hits.first().map_or(&[][..], Vec::as_slice),
        );
    } else if let (Some(file), Some(format)) = (m.value("queries"), queries_format) {
        let mut reader = formats::open_reader(Path::new(file), format)?;
        let mut rows = RowBatch::default();
        let mut index = 0u64;
        while reader.read_batch(batch, &mut rows)? > 0 {
            check_dim(&db, rows.dim, file)?;
            let results = db.search_batch(&rows.vectors, params)?;
            for (row, hits) in rows.rows.iter().zip(&results) {
                let label = match (&row.id, format) {
                    (Some(id), Format::Jsonl) => QueryLabel::Id(id.clone()),
                    _ => QueryLabel::Index(index),
                };
                write_result(&mut text, &label, hits);
                index += 1;
            }
            out.write_all(text.as_bytes())?;
            text.clear();
        }
    }
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

fn check_dim(db: &Db, got: usize, what: &str) -> Result<()> {
    if got != db.dim() {
        bail!(
            "{what}: queries have {got} values, the store's dimension is {}",
            db.dim()
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
    fn vector_argument() {
        assert_eq!(parse_vector("[1, -0.5, 2e0]").unwrap(), [1.0, -0.5, 2.0]);
        assert!(parse_vector("[]").unwrap_err().contains("empty"));
        assert!(parse_vector("[1, NaN]").unwrap_err().contains("NaN"));
        assert!(parse_vector("[1] 2").unwrap_err().contains("column 5"));
        assert!(parse_vector("1,2").is_err());
    }
}
