//! Refresh: a read-only store catching up with its writer (SPEC.md §6.4.1).

use nidus_format::End;

use super::Store;
use super::budget::check_budget;
use crate::error::{Error, Result};
use crate::frame_log::{self, FrameHead};
use crate::info::FileEnd;

/// Where the last batch a read-only store applied starts, and its frame
/// header as read then.
#[derive(Debug, Clone, Copy)]
pub(super) struct LastFrame {
    /// The frame's offset in the data file.
    at: u64,
    /// Its header, or `None` if it could not be read (the next refresh
    /// then reloads).
    head: Option<FrameHead>,
}

impl Store {
    /// Brings a read-only store up to date with its writer: reads only the
    /// frames appended since the last open or refresh, or, if the data file
    /// was replaced by a compaction, reloads it. An unfinished batch at the
    /// end (the writer is mid-append) is left for the next refresh. Returns
    /// the number of batches applied (all of them after a reload).
    ///
    /// # Writable stores
    ///
    /// On a writable store `refresh` reads nothing and returns `Ok(0)`, by
    /// design rather than by accident: a writable store holds the writer
    /// lock (SPEC.md §6.3), so no other process can have appended, and its
    /// memory already holds every batch in the file. "0 batches were
    /// missing" is the true answer, and code that follows a store either
    /// way (read-only or writable, chosen by a flag) can call `refresh`
    /// without asking which kind it holds.
    ///
    /// ```
    /// use nidus_store::{Options, Record, Store};
    /// # let tmp = tempfile::tempdir()?;
    /// let mut writer = Store::open(tmp.path(), Options::new(2))?;
    /// writer.upsert("docs", &[Record::new("a", [1.0, 0.0])])?;
    /// assert_eq!(writer.refresh()?, 0); // nothing it has not seen
    ///
    /// let mut reader = Store::open(tmp.path(), Options::new(2).read_only())?;
    /// writer.upsert("docs", &[Record::new("b", [0.0, 1.0])])?;
    /// assert_eq!(reader.refresh()?, 1); // the batch appended since its open
    /// # Ok::<(), anyhow::Error>(())
    /// ```
    pub fn refresh(&mut self) -> Result<u64> {
        if !self.is_read_only() {
            // Up to date by construction: see "Writable stores" above.
            return Ok(0);
        }
        let fs = self.opts.fs.clone();
        let replaced = match fs.id_of(&self.path) {
            Ok(id) => id != self.file_id,
            Err(e) => return Err(Error::io("checking the data file", &self.path, e)),
        };
        let len = self
            .file
            .len()
            .map_err(|e| Error::io("reading the data file", &self.path, e))?;
        // A writer that cut back a frame this store applied (its sync
        // failed) may have written another in its place: start over.
        let rolled_back = match self.last_frame {
            Some(LastFrame {
                at,
                head: Some(head),
            }) if len >= self.end => {
                frame_log::frame_head(&mut *self.file, at)
                    .map_err(|e| Error::io("reading the data file", &self.path, e))?
                    != head
            }
            Some(LastFrame { head: None, .. }) => true,
            _ => false,
        };
        if replaced || len < self.end || rolled_back {
            let fresh = Store::open(&self.dir, self.opts.clone().read_only())?;
            let batches = fresh.report.batches;
            *self = fresh;
            return Ok(batches);
        }
        if len == self.end {
            return Ok(0);
        }
        let budget = self.opts.memory_budget;
        let threads = self.opts.threads;
        let model = &mut self.model;
        let outcome = frame_log::read_frames(
            &mut *self.file,
            &self.path,
            &self.header,
            self.end,
            len,
            threads,
            &mut |batch, frame_at| {
                check_budget(model, budget, batch.vector_bytes().len(), batch.ops())?;
                model.reserve_for(batch)?;
                model.apply(batch, threads, frame_at)
            },
        )?;
        self.end = outcome.valid_end;
        self.remember_last_frame(outcome.last_frame);
        self.report.batches += outcome.batches;
        self.report.valid_bytes = outcome.valid_end;
        self.report.end = match outcome.end {
            End::Corrupt { offset, reason } => {
                let e = FileEnd::Corrupt {
                    offset,
                    reason: reason.clone(),
                    saved_to: None,
                };
                if !self.opts.open_valid_prefix {
                    return Err(Error::corrupt(reason, &self.path, offset));
                }
                e
            }
            End::TornTail { offset, dropped } => FileEnd::TornTail { offset, dropped },
            _ => FileEnd::Clean,
        };
        Ok(outcome.batches)
    }

    /// Records the frame header of the last batch applied (read-only
    /// stores), for [`Store::refresh`]'s check; an unreadable one makes the
    /// next refresh reload.
    pub(super) fn remember_last_frame(&mut self, at: Option<u64>) {
        if let Some(at) = at {
            let head = frame_log::frame_head(&mut *self.file, at).ok();
            self.last_frame = Some(LastFrame { at, head });
        }
    }
}
