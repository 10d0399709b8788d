//! `nidus export STORE FILE`: records out, vectors as stored, so that a
//! later import reproduces them bit-exactly. FILE appears whole or not at
//! all: the output goes to a temporary file renamed into place.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use crate::args::Matches;
use crate::db::Db;
use crate::formats::fvecs::FvecsWriter;
use crate::formats::jsonl::JsonlWriter;
use crate::formats::{self, Format, RowWriter};
use crate::progress::group_digits;

/// Runs `export`.
pub fn run(m: &Matches) -> Result<()> {
    let store = Path::new(&m.positionals[0]);
    let file = Path::new(&m.positionals[1]);
    let format = Format::resolve(m.value("format"), file).map_err(|e| m.usage_error(e))?;
    let rows = export(store, file, format, m.value("collection"))?;
    let summary = format!("exported {} rows to {}", group_digits(rows), file.display());
    if file.as_os_str() == formats::STDIO {
        eprintln!("{summary}"); // stdout holds the data
    } else {
        outln!("{summary}");
    }
    Ok(())
}

/// Exports `collection` (or every collection) of the store to `file`.
pub fn export(store: &Path, file: &Path, format: Format, collection: Option<&str>) -> Result<u64> {
    let db = Db::open_read_only(store)?;
    let all = db.collections();
    let collections: Vec<String> = match collection {
        Some(name) => {
            if !all.iter().any(|c| c == name) {
                bail!(
                    "the store has no collection '{name}' (collections: {})",
                    all.join(", ")
                );
            }
            vec![name.to_owned()]
        }
        None => all,
    };
    if format != Format::Jsonl && collections.len() > 1 {
        bail!(
            "{format} holds one matrix without ids, and the store has {} collections ({}); \
             choose one with --collection, or export to JSONL",
            collections.len(),
            collections.join(", ")
        );
    }
    if file.as_os_str() == formats::STDIO {
        return to_stdout(&db, &collections, format);
    }
    let temp = temp_path(file);
    let out = File::create(&temp).with_context(|| format!("cannot create {}", temp.display()))?;
    let result = (|| -> Result<u64> {
        let mut writer = formats::create_writer(out, format, db.dim())?;
        for name in &collections {
            db.for_each_record(name, &mut |id, vector, attrs| {
                writer.write_row(name, id, vector, attrs)
            })?;
        }
        let rows = writer.finish()?;
        let out = File::open(&temp)?;
        out.sync_all()?;
        fs::rename(&temp, file)
            .with_context(|| format!("cannot rename {} to {}", temp.display(), file.display()))?;
        Ok(rows)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result.with_context(|| format!("cannot export to {}", file.display()))
}

/// Writes JSONL or fvecs to standard output (npy needs a seekable file).
fn to_stdout(db: &Db, collections: &[String], format: Format) -> Result<u64> {
    let out = std::io::BufWriter::with_capacity(1 << 20, std::io::stdout());
    let mut writer: Box<dyn RowWriter> = match format {
        Format::Jsonl => Box::new(JsonlWriter::new(out)),
        Format::Fvecs => Box::new(FvecsWriter::new(out, db.dim())?),
        Format::Npy => bail!("npy export needs a file (its header is rewritten at the end)"),
    };
    for name in collections {
        db.for_each_record(name, &mut |id, vector, attrs| {
            writer.write_row(name, id, vector, attrs)
        })?;
    }
    writer.finish()
}

/// A temporary name beside `file` (same directory, so rename is atomic).
fn temp_path(file: &Path) -> PathBuf {
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "export".to_owned());
    file.with_file_name(format!(".{name}.nidus-tmp-{}", std::process::id()))
}
