//! Compaction: rewriting the live records into a new data file and
//! dropping dead rows from memory (SPEC.md §6.5).

use std::io::{Seek, SeekFrom, Write};
use std::path::Path;

use nidus_format::{Batch, HEADER_LEN, Op};

use super::{NEW_FILE, Store};
use crate::error::{Error, Result};
use crate::frame_log;
use crate::info::{FileEnd, OpenReport};
use crate::io::{OpenMode, StoreFile};
use crate::model::Moved;

/// Compaction writes upserts in batches of at most this many rows.
const COMPACT_BATCH_ROWS: usize = 8192;

impl Store {
    pub(super) fn maybe_auto_compact(&mut self) {
        let Some(ratio) = self.opts.auto_compact else {
            return;
        };
        let dead = self.model.dead_rows();
        if dead < self.auto_compact_floor || (dead as f64) <= ratio * self.model.rows() as f64 {
            return;
        }
        if self.compact().is_err() {
            // The write itself succeeded; the old file is whole. Try again
            // once twice as many rows are dead.
            self.auto_compact_floor = dead.saturating_mul(2);
        } else {
            self.auto_compact_floor = self.opts.auto_compact_min_dead;
        }
    }

    /// Rewrites the live records into a new data file (temporary file,
    /// sync, rename over the old one, sync of the directory) and drops dead
    /// rows from memory. A crash at any point leaves the old file or the
    /// new one, whole; an error before the rename leaves everything as it
    /// was. Also makes every earlier write durable.
    pub fn compact(&mut self) -> Result<()> {
        self.writable("compact")?;
        self.verify_lock()?;
        let tmp = self.dir.join(NEW_FILE);
        let fs = self.opts.fs.clone();
        let _ = fs.remove_file(&tmp);
        let written = self.write_compacted(&tmp);
        let (mut out, len, moved) = match written {
            Ok(written) => written,
            Err(e) => {
                let _ = fs.remove_file(&tmp);
                return Err(e);
            }
        };
        if let Err(e) = fs.rename(&tmp, &self.path) {
            let _ = fs.remove_file(&tmp);
            return Err(Error::io(
                "renaming the compacted file into place",
                &self.path,
                e,
            ));
        }
        // From here the new file is the store: switch to it whatever happens.
        // The length is what was written, not what fstat says: a failed
        // fstat must never move the append position (to 0, over the header).
        let _ = out.seek(SeekFrom::Start(len));
        let id = out.id();
        self.file = out;
        self.end = len;
        self.unsynced = false;
        self.sync_failed = false;
        self.cut_pending = false;
        let dir_synced = fs.sync_dir(&self.dir);
        // The in-memory compaction only renumbers rows; if it cannot get
        // memory, the state stays logically identical, just not smaller.
        // Int8: the rows' offsets move to the new file here, with it.
        let _ = self.model.compact(moved);
        self.report = OpenReport {
            batches: self.report.batches,
            valid_bytes: len,
            end: FileEnd::Clean,
        };
        match id {
            Ok(id) => self.file_id = id,
            Err(e) => return Err(Error::io("reading the compacted file", &self.path, e)),
        }
        dir_synced
            .map_err(|e| Error::io("syncing the store directory after compaction", &self.dir, e))
    }

    /// Writes and syncs the compacted file; returns it, its length and
    /// ([`Scan::Int8`](crate::Scan::Int8)) where the rows went. With
    /// `Scan::Int8` the vectors are read back from the old file, each
    /// checked against its codes: a damaged row fails the compaction
    /// instead of being copied.
    fn write_compacted(&mut self, tmp: &Path) -> Result<(Box<dyn StoreFile>, u64, Option<Moved>)> {
        let io_err = |e| Error::io("writing the compacted file", tmp, e);
        let mut out = self
            .opts
            .fs
            .open(tmp, OpenMode::CreateNew)
            .map_err(io_err)?;
        out.write_all(&self.header.encode()).map_err(io_err)?;
        let mut len = HEADER_LEN as u64;
        let model = &self.model;
        let dim = model.dim;
        let mut reader = self.file_rows().map(|r| r.sequential());
        let mut moved = match model.quantized() {
            None => None,
            Some(_) => {
                let mut live_rows = self.scratch()?;
                live_rows.reserve(model.live_rows());
                let mut offsets_by_old = Vec::new();
                offsets_by_old.try_reserve_exact(model.rows())?;
                offsets_by_old.resize(model.rows(), u64::MAX);
                Some(Moved {
                    offsets_by_old,
                    live_rows,
                })
            }
        };
        let mut scratch = self.scratch()?;
        let mut in_batch: Vec<usize> = Vec::new();
        let mut frames = Vec::new();
        let mut batch = Batch::default();
        for c in model.collections_by_slot() {
            batch.ops.push(Op::CreateCollection {
                name: c.name.clone(),
            });
            for (k, v) in &c.metadata {
                batch.ops.push(Op::SetMetadata {
                    collection: c.name.clone(),
                    key: k.clone(),
                    value: Some(v.clone()),
                });
            }
        }
        // Writes `batch`; `in_batch` names the old rows of its upserts, whose
        // new offsets go into `moved`.
        let mut flush = |batch: &mut Batch,
                         out: &mut Box<dyn StoreFile>,
                         in_batch: &mut Vec<usize>,
                         moved: &mut Option<Moved>|
         -> Result<()> {
            if batch.ops.is_empty() {
                return Ok(());
            }
            frames.clear();
            nidus_format::encode_frame(batch, &self.header, &mut frames)
                .map_err(|e| frame_log::format_error(e, tmp))?;
            out.write_all(&frames).map_err(io_err)?;
            if let Some(m) = moved.as_mut() {
                let first = len + frame_log::VECTORS_IN_FRAME;
                for (i, &old) in in_batch.iter().enumerate() {
                    m.offsets_by_old[old] = first + (i * dim * 4) as u64;
                }
            }
            in_batch.clear();
            len += frames.len() as u64;
            batch.ops.clear();
            batch.vectors.clear();
            Ok(())
        };
        flush(&mut batch, &mut out, &mut in_batch, &mut moved)?;
        for row in model.live.iter() {
            batch.ops.push(Op::Upsert {
                collection: model.row_collection(row).to_owned(),
                id: model.row_id(row).to_owned(),
                attrs: model.keys.expand(model.row_attrs(row)),
            });
            match (model.row_vector(row), reader.as_mut()) {
                (Some(v), _) => batch.vectors.extend_from_slice(v),
                (None, Some(reader)) => {
                    let at = batch.vectors.len();
                    batch.vectors.resize(at + dim, 0.0);
                    let v = &mut batch.vectors[at..];
                    reader.fetch(&[row], v)?;
                    match moved.as_mut() {
                        // Quantize once: the moved row's codes are also
                        // what proves the file still holds the loaded row.
                        Some(m) => {
                            // A row that no longer quantizes (not finite)
                            // is not the row that was loaded either.
                            m.live_rows.push(v).map_err(|_| self.changed_row(row))?;
                            self.check_quantized_row(row, &m.live_rows, m.live_rows.len() - 1)?;
                        }
                        None => self.check_row(row, v, &mut scratch)?,
                    }
                    in_batch.push(row);
                }
                (None, None) => unreachable!("a row without a vector has an offset"),
            }
            if batch.ops.len() >= COMPACT_BATCH_ROWS {
                flush(&mut batch, &mut out, &mut in_batch, &mut moved)?;
            }
        }
        flush(&mut batch, &mut out, &mut in_batch, &mut moved)?;
        out.sync_data().map_err(io_err)?;
        Ok((out, len, moved))
    }
}
