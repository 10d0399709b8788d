//! `nidus import STORE FILE`: stream a file into the store, one atomic,
//! durable write per `--batch` rows.

use std::path::Path;
use std::sync::mpsc;
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};

use crate::args::Matches;
use crate::db::Db;
use crate::formats::{self, Format, RowBatch};
use crate::progress::{Progress, group_digits};

/// The collection rows go to when neither a flag nor the line names one.
pub const DEFAULT_COLLECTION: &str = "default";

/// The default rows per atomic write.
pub const DEFAULT_BATCH: usize = 10_000;

/// The most rows per atomic write: one batch is held in memory and written
/// as one frame, which the format caps at 1 GiB.
pub const MAX_BATCH: usize = 1_000_000;

/// Runs `import`.
pub fn run(m: &Matches) -> Result<()> {
    let store = Path::new(&m.positionals[0]);
    let file = Path::new(&m.positionals[1]);
    let format = Format::resolve(m.value("format"), file).map_err(|e| m.usage_error(e))?;
    let batch_rows: usize = m.parsed_or("batch", DEFAULT_BATCH)?;
    if !(1..=MAX_BATCH).contains(&batch_rows) {
        return Err(m
            .usage_error(format!("--batch must be between 1 and {MAX_BATCH}"))
            .into());
    }
    let collection = m.value("collection");
    if collection == Some("") {
        return Err(m.usage_error("--collection must not be empty").into());
    }
    let summary = import_file(store, file, format, batch_rows, collection, true)?;
    let mut line = format!(
        "imported {} rows into {} in {:.2} s ({} rows/s",
        group_digits(summary.rows),
        store.display(),
        summary.seconds,
        group_digits(summary.rows_per_s() as u64),
    );
    if summary.file_bytes > 0 {
        line.push_str(&format!(", {:.1} MB/s", summary.mb_per_s()));
    }
    outln!("{line})");
    Ok(())
}

/// What an import did.
#[derive(Debug, Clone, Copy)]
pub struct ImportSummary {
    /// Rows imported.
    pub rows: u64,
    /// Bytes of the input file.
    pub file_bytes: u64,
    /// Wall time.
    pub seconds: f64,
}

impl ImportSummary {
    /// Rows per second.
    pub fn rows_per_s(&self) -> f64 {
        self.rows as f64 / self.seconds.max(1e-9)
    }

    /// Input megabytes (10^6) per second.
    pub fn mb_per_s(&self) -> f64 {
        self.file_bytes as f64 / 1e6 / self.seconds.max(1e-9)
    }
}

/// Imports `file` into the store at `store` (created if missing), in
/// batches of `batch_rows` rows. On an error, the batches before it stay
/// and the error says how many rows they hold.
pub fn import_file(
    store: &Path,
    file: &Path,
    format: Format,
    batch_rows: usize,
    collection: Option<&str>,
    show_progress: bool,
) -> Result<ImportSummary> {
    let start = Instant::now();
    // The input's size, for the MB/s figure (0 for stdin or a pipe).
    let file_bytes = std::fs::metadata(file)
        .ok()
        .filter(|m| m.is_file())
        .map_or(0, |m| m.len());
    let mut reader = formats::open_reader(file, format)?;
    let mut progress = if show_progress {
        Progress::new("import")
    } else {
        Progress::with_enabled("import", false)
    };
    let mut db: Option<Db> = None;
    let mut rows = 0u64;
    let stopped = |rows: u64| {
        format!(
            "import of {} stopped; the {} rows before the error are stored",
            file.display(),
            rows
        )
    };
    // Parsing and writing overlap: a reader thread parses the next batch
    // while this thread commits (and fsyncs) the previous one. Batches and
    // a reader error arrive in file order, so the batches before an error
    // are exactly the ones committed. The hand-over channel holds nothing
    // (a rendezvous) and written batches go back to the parser for reuse,
    // so at most two batches are in memory.
    let (full_tx, full_rx) = mpsc::sync_channel::<Result<(RowBatch, Option<f64>)>>(0);
    let (empty_tx, empty_rx) = mpsc::sync_channel::<RowBatch>(1);
    let outcome = std::thread::scope(|scope| -> Result<Option<usize>> {
        let parser = scope.spawn(move || {
            loop {
                let mut batch = empty_rx.try_recv().unwrap_or_default();
                match reader.read_batch(batch_rows, &mut batch) {
                    Ok(0) => return reader.dim(),
                    Ok(_) => {
                        if full_tx.send(Ok((batch, reader.fraction_done()))).is_err() {
                            return reader.dim(); // the writer stopped
                        }
                    }
                    Err(e) => {
                        let _ = full_tx.send(Err(e));
                        return reader.dim();
                    }
                }
            }
        });
        let written = (|| -> Result<()> {
            for message in &full_rx {
                let (mut batch, fraction) = message.with_context(|| stopped(rows))?;
                if db.is_none() {
                    db = Some(open_for(store, batch.dim, file)?);
                }
                let Some(db) = db.as_mut() else {
                    unreachable!("opened above")
                };
                let result = write_batch(db, &mut batch, collection, file, &mut rows);
                result.with_context(|| stopped(rows))?;
                progress.update(rows, fraction);
                let _ = empty_tx.try_send(batch);
            }
            Ok(())
        })();
        // Unblock the parser if the writer stopped early.
        drop(full_rx);
        let dim = parser
            .join()
            .map_err(|_| anyhow!("the parsing thread panicked"))?;
        written.map(|()| dim)
    });
    let dim = outcome?;
    progress.finish();
    if db.is_none() {
        // No rows: still create the store when the file tells its dimension.
        match dim {
            Some(dim) => {
                open_for(store, dim, file)?;
            }
            None if Db::exists(store) => {}
            None => bail!(
                "{} holds no rows, and a new store takes its dimension from the data",
                file.display()
            ),
        }
    }
    Ok(ImportSummary {
        rows,
        file_bytes,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// Opens (or creates) the store for rows of `dim` values, refusing a
/// dimension mismatch before anything is written.
fn open_for(store: &Path, dim: usize, file: &Path) -> Result<Db> {
    let db = Db::create_or_open(store, dim)?;
    if db.dim() != dim {
        bail!(
            "{} holds vectors of dimension {dim}, but the store {} has dimension {}",
            file.display(),
            store.display(),
            db.dim()
        );
    }
    Ok(db)
}

/// Writes one batch: one atomic write per run of rows sharing a collection
/// (with `--collection`, or a file without "collection" keys, that is the
/// whole batch). Ids and attributes are moved out of `batch`. `stored`
/// counts the rows committed, also when a later write fails.
fn write_batch(
    db: &mut Db,
    batch: &mut RowBatch,
    flag: Option<&str>,
    file: &Path,
    stored: &mut u64,
) -> Result<()> {
    for row in &batch.rows {
        match row.id.as_deref() {
            None => bail!("{}: {}: no \"id\" key", file.display(), row.location),
            Some("") => bail!("{}: {}: the id is empty", file.display(), row.location),
            Some(_) => {}
        }
    }
    let n = batch.rows.len();
    let mut start = 0;
    while start < n {
        let name = flag
            .or(batch.rows[start].collection.as_deref())
            .unwrap_or(DEFAULT_COLLECTION)
            .to_owned();
        let mut end = start + 1;
        while end < n
            && flag
                .or(batch.rows[end].collection.as_deref())
                .unwrap_or(DEFAULT_COLLECTION)
                == name
        {
            end += 1;
        }
        let (first, last) = (batch.rows[start].location, batch.rows[end - 1].location);
        let rows = batch.rows[start..end].iter_mut().map(|r| {
            (
                r.id.take().unwrap_or_default(),
                std::mem::take(&mut r.attrs),
            )
        });
        db.upsert(
            &name,
            rows,
            &batch.vectors[start * batch.dim..end * batch.dim],
        )
        .with_context(|| {
            format!(
                "{}: cannot store the rows from {first} to {last}",
                file.display()
            )
        })?;
        *stored += (end - start) as u64;
        start = end;
    }
    Ok(())
}
