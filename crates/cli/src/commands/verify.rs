//! `nidus verify STORE`: read and check every byte; exit 1 with the offset
//! and the kind of damage.

use std::path::Path;

use anyhow::{Result, bail};

use crate::args::Matches;
use crate::db::{Damage, Db};
use crate::progress::group_digits;

/// Runs `verify`.
pub fn run(m: &Matches) -> Result<()> {
    let store = Path::new(&m.positionals[0]);
    let report = Db::verify(store)?;
    match report.damage {
        None => {
            outln!(
                "ok: {} intact ({} batches, {} bytes)",
                store.display(),
                group_digits(report.batches),
                group_digits(report.valid_bytes)
            );
            Ok(())
        }
        Some(Damage::TornTail { offset }) => bail!(
            "{}: torn tail at byte offset {offset}: the last write was cut short (a crash while \
             writing); the {} bytes before it are intact, and a writable open truncates the rest",
            store.display(),
            report.valid_bytes
        ),
        Some(Damage::Corruption { offset, detail }) => bail!(
            "{}: corruption at byte offset {offset}: {detail}; the {} bytes before it are intact",
            store.display(),
            report.valid_bytes
        ),
    }
}
