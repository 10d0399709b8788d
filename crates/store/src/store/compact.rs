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
        let (mut out, len) = match written {
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
        let _ = self.model.compact();
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

    /// Writes and syncs the compacted file; returns it and its length.
    fn write_compacted(&mut self, tmp: &Path) -> Result<(Box<dyn StoreFile>, u64)> {
        let io_err = |e| Error::io("writing the compacted file", tmp, e);
        let mut out = self
            .opts
            .fs
            .open(tmp, OpenMode::CreateNew)
            .map_err(io_err)?;
        out.write_all(&self.header.encode()).map_err(io_err)?;
        let mut len = HEADER_LEN as u64;
        let model = &self.model;
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
        let mut flush = |batch: &mut Batch, out: &mut Box<dyn StoreFile>| -> Result<()> {
            if batch.ops.is_empty() {
                return Ok(());
            }
            frames.clear();
            nidus_format::encode_frame(batch, &self.header, &mut frames)
                .map_err(|e| frame_log::format_error(e, tmp))?;
            out.write_all(&frames).map_err(io_err)?;
            len += frames.len() as u64;
            batch.ops.clear();
            batch.vectors.clear();
            Ok(())
        };
        flush(&mut batch, &mut out)?;
        for row in model.live.iter() {
            batch.ops.push(Op::Upsert {
                collection: model.row_collection(row).to_owned(),
                id: model.row_id(row).to_owned(),
                attrs: model.keys.expand(model.row_attrs(row)),
            });
            batch.vectors.extend_from_slice(model.row_vector(row));
            if batch.ops.len() >= COMPACT_BATCH_ROWS {
                flush(&mut batch, &mut out)?;
            }
        }
        flush(&mut batch, &mut out)?;
        out.sync_data().map_err(io_err)?;
        Ok((out, len))
    }
}
