//! `nidus delete STORE (ID... | --filter JSON)`: one atomic, durable write.

use std::path::Path;

use anyhow::Result;

use crate::args::Matches;
use crate::db::Db;
use crate::where_clause;

use super::import::DEFAULT_COLLECTION;

/// Runs `delete`.
pub fn run(m: &Matches) -> Result<()> {
    let store = Path::new(&m.positionals[0]);
    let ids = &m.positionals[1..];
    let deleted = match (m.value("filter"), ids.is_empty()) {
        (Some(_), false) => {
            return Err(m.usage_error("give ids or --filter, not both").into());
        }
        (None, true) => {
            return Err(m
                .usage_error("give the ids to delete, or --filter JSON")
                .into());
        }
        (Some(text), true) => {
            let filter =
                where_clause::parse(text).map_err(|e| m.usage_error(format!("--filter: {e}")))?;
            let mut db = Db::open_writable(store)?;
            db.delete_where(m.value("collection"), &filter)?
        }
        (None, false) => {
            let collection = m.value("collection").unwrap_or(DEFAULT_COLLECTION);
            let mut db = Db::open_writable(store)?;
            db.delete_ids(collection, ids)?
        }
    };
    outln!("deleted {deleted} records");
    Ok(())
}
