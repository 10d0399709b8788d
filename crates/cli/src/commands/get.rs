//! `nidus get STORE (ID | --filter JSON)`: one record, or every record
//! matching a filter, as JSON lines (the import format).

use std::path::Path;

use anyhow::{Result, anyhow};

use crate::args::Matches;
use crate::db::Db;
use crate::filter;
use crate::formats::RowWriter;
use crate::formats::jsonl::JsonlWriter;

use super::import::DEFAULT_COLLECTION;

/// Runs `get`.
pub fn run(m: &Matches) -> Result<()> {
    let store = Path::new(&m.positionals[0]);
    let id = m.positionals.get(1);
    let stdout = std::io::stdout();
    let mut w = Box::new(JsonlWriter::new(stdout.lock()));
    match (id, m.value("filter")) {
        (Some(_), Some(_)) => return Err(m.usage_error("give an id or --filter, not both").into()),
        (None, None) => {
            return Err(m
                .usage_error("give the id to print, or --filter JSON")
                .into());
        }
        (Some(id), None) => {
            let collection = m.value("collection").unwrap_or(DEFAULT_COLLECTION);
            let db = Db::open_read_only(store)?;
            let record = db.get(collection, id)?.ok_or_else(|| {
                anyhow!("not found: no record '{id}' in collection '{collection}'")
            })?;
            w.write_row(
                &record.collection,
                &record.id,
                &record.vector,
                &record.attrs,
            )?;
        }
        (None, Some(text)) => {
            let filter =
                filter::parse(text).map_err(|e| m.usage_error(format!("--filter: {e}")))?;
            let db = Db::open_read_only(store)?;
            db.for_each_where(
                m.value("collection"),
                &filter,
                &mut |collection, id, vector, attrs| w.write_row(collection, id, vector, attrs),
            )?;
        }
    }
    w.finish()?;
    Ok(())
}
