//! `nidus compact STORE`.

use std::path::Path;

use anyhow::Result;

use crate::args::Matches;
use crate::db::Db;
use crate::progress::group_digits;

/// Runs `compact`.
pub fn run(m: &Matches) -> Result<()> {
    let store = Path::new(&m.positionals[0]);
    let mut db = Db::open_writable(store)?;
    let (before, after) = db.compact()?;
    outln!(
        "compacted {}: {} bytes -> {} bytes",
        store.display(),
        group_digits(before),
        group_digits(after)
    );
    Ok(())
}
