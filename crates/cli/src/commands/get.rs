//! `nidus get STORE ID`: one record as a JSON line (the import format).

use std::path::Path;

use anyhow::{Result, anyhow};

use crate::args::Matches;
use crate::db::Db;
use crate::formats::RowWriter;
use crate::formats::jsonl::JsonlWriter;

use super::import::DEFAULT_COLLECTION;

/// Runs `get`.
pub fn run(m: &Matches) -> Result<()> {
    let store = Path::new(&m.positionals[0]);
    let id = &m.positionals[1];
    let collection = m.value("collection").unwrap_or(DEFAULT_COLLECTION);
    let db = Db::open_read_only(store)?;
    let record = db
        .get(collection, id)?
        .ok_or_else(|| anyhow!("not found: no record '{id}' in collection '{collection}'"))?;
    let stdout = std::io::stdout();
    let mut w = Box::new(JsonlWriter::new(stdout.lock()));
    w.write_row(
        &record.collection,
        &record.id,
        &record.vector,
        &record.attrs,
    )?;
    w.finish()?;
    Ok(())
}
