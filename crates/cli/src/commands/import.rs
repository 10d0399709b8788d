//! `nidus import STORE FILE`: stream a file into the store, one atomic,
//! durable write per `--batch` rows.

use std::path::Path;
use std::sync::mpsc;
use std::time::Instant;

use anyhow::{Context, Result, anyhow, bail};

use crate::args::Matches;
use crate::db::Db;
use crate::formats::{self, Format, Row, RowBatch};
use crate::progress::{Progress, group_digits};

/// The collection rows go to when neither a flag nor the line names one.
pub const DEFAULT_COLLECTION: &str = "default";

/// The default rows per atomic write.
pub const DEFAULT_BATCH: usize = 10_000;

/// The most rows per atomic write: one batch is held in memory and written
/// as one frame, which the format caps at 1 GiB.
pub const MAX_BATCH: usize = 1_000_000;

/// `--shard I/N`: only the rows that belong to shard `index` of `count`
/// by the shard function of SPEC.md §9.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardSelection {
    /// Which shard, 0 ..= `count` - 1.
    pub index: usize,
    /// How many shards.
    pub count: usize,
}

impl ShardSelection {
    /// Parses `I/N` with `0 <= I < N`.
    pub fn parse(text: &str) -> Result<ShardSelection, String> {
        let bad = || format!("--shard: expected I/N with 0 <= I < N (e.g. 0/4), got '{text}'");
        let (i, n) = text.split_once('/').ok_or_else(bad)?;
        let index: usize = i.trim().parse().map_err(|_| bad())?;
        let count: usize = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(ShardSelection { index, count })
    }

    /// Whether record `id` of `collection` belongs to this shard.
    pub fn holds(&self, collection: &str, id: &str) -> bool {
        nidus_format::shard_of(collection, id, self.count) == self.index
    }
}

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
    let shard = match m.value("shard") {
        Some(text) => Some(ShardSelection::parse(text).map_err(|e| m.usage_error(e))?),
        None => None,
    };
    let summary = import_file(store, file, format, batch_rows, collection, shard, true)?;
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
    line.push(')');
    if let Some(shard) = shard {
        line.push_str(&format!(
            "; shard {}/{}: {} rows of the file belong to other shards",
            shard.index,
            shard.count,
            group_digits(summary.skipped)
        ));
    }
    outln!("{line}");
    Ok(())
}

/// What an import did.
#[derive(Debug, Clone, Copy)]
pub struct ImportSummary {
    /// Rows imported.
    pub rows: u64,
    /// Rows of the file left out because they belong to another shard.
    pub skipped: u64,
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
/// batches of `batch_rows` rows; with `shard`, only the rows that belong
/// to it (every row is still checked). On an error, the batches before it
/// stay and the error says how many rows they hold.
pub fn import_file(
    store: &Path,
    file: &Path,
    format: Format,
    batch_rows: usize,
    collection: Option<&str>,
    shard: Option<ShardSelection>,
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
    let mut skipped = 0u64;
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
                let result = check_ids(&batch, file).map(|()| {
                    if let Some(shard) = shard {
                        skipped += keep_shard(&mut batch, collection, shard);
                    }
                });
                let result =
                    result.and_then(|()| write_batch(db, &mut batch, collection, file, &mut rows));
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
        skipped,
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

/// Every row has a non-empty id (checked for the whole batch, also the
/// rows `--shard` leaves out, so each shard's import fails on the same line).
fn check_ids(batch: &RowBatch, file: &Path) -> Result<()> {
    for row in &batch.rows {
        match row.id.as_deref() {
            None => bail!("{}: {}: no \"id\" key", file.display(), row.location),
            Some("") => bail!("{}: {}: the id is empty", file.display(), row.location),
            Some(_) => {}
        }
    }
    Ok(())
}

/// The collection a row goes to: `--collection`, else the line's
/// "collection", else the default.
fn collection_of<'a>(flag: Option<&'a str>, row: &'a Row) -> &'a str {
    flag.or(row.collection.as_deref())
        .unwrap_or(DEFAULT_COLLECTION)
}

/// Drops the rows of `batch` that belong to another shard, keeping the
/// order of the rest; returns how many it dropped. Routing uses the
/// collection the row is written to, so `--collection` changes the shard.
fn keep_shard(batch: &mut RowBatch, flag: Option<&str>, shard: ShardSelection) -> u64 {
    let dim = batch.dim;
    let mut kept = 0;
    for i in 0..batch.rows.len() {
        let row = &batch.rows[i];
        if !shard.holds(
            collection_of(flag, row),
            row.id.as_deref().unwrap_or_default(),
        ) {
            continue;
        }
        if kept != i {
            batch.rows.swap(kept, i);
            batch
                .vectors
                .copy_within(i * dim..(i + 1) * dim, kept * dim);
        }
        kept += 1;
    }
    let dropped = batch.rows.len() - kept;
    batch.rows.truncate(kept);
    batch.vectors.truncate(kept * dim);
    dropped as u64
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
    let n = batch.rows.len();
    let mut start = 0;
    while start < n {
        let name = collection_of(flag, &batch.rows[start]).to_owned();
        let mut end = start + 1;
        while end < n && collection_of(flag, &batch.rows[end]) == name {
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
