//! Big upserts: the vectors are normalized straight into the frame, then
//! copied into memory on a second thread while the frame is written.

use nidus_format::{FRAME_HEADER_LEN, MAX_PAYLOAD_LEN, UpsertFrame};

use super::Store;
use super::write::compact_attrs;
use crate::error::{Error, Result};
use crate::frame_log;
use crate::options::Durability;
use crate::record::Record;
use crate::stage;

/// Upserts with at least this many vector floats (1 MiB) copy their
/// vectors into memory on a second thread while the frame is written.
pub(super) const OVERLAP_MIN_FLOATS: usize = 1 << 18;

impl Store {
    /// [`Store::upsert`] of a big batch, on two threads.
    pub(super) fn upsert_big(&mut self, collection: &str, records: &[Record]) -> Result<()> {
        let dim = self.model.dim;
        let rows = records.len();
        let id_bytes = stage::check_records_in_halves(collection, records, self.opts.threads)?;
        let frame_bytes = rows
            .saturating_mul(dim * 4)
            .saturating_add(FRAME_HEADER_LEN + 8);
        self.frame.clear();
        // Out of memory is an error, not an abort; a frame over the format's
        // limit is refused by `begin` before it allocates.
        if frame_bytes <= MAX_PAYLOAD_LEN as usize + FRAME_HEADER_LEN {
            self.frame.try_reserve_exact(frame_bytes)?;
        }
        let layout = UpsertFrame::begin(&self.header, rows, &mut self.frame)
            .map_err(|e| frame_log::format_error(e, &self.path))?;
        debug_assert_eq!(
            layout.vectors().start as u64,
            frame_log::VECTORS_IN_FRAME,
            "finish_upserts finds the rows where every frame keeps them"
        );
        stage::write_units(
            records,
            dim,
            self.opts.threads,
            &mut self.frame[layout.vectors()],
        )?;
        self.prepare_upserts(collection, records, id_bytes)?;
        let sync = self.opts.durability == Durability::Sync;
        let threads = self.opts.threads;
        let Store {
            path,
            file,
            frame,
            ops,
            model,
            end,
            cut_pending,
            ..
        } = self;
        let (head, body) = frame
            .split_first_chunk_mut::<FRAME_HEADER_LEN>()
            .expect("UpsertFrame::begin laid out a frame header");
        let body: &[u8] = body;
        let block = &body[layout.vectors().start - FRAME_HEADER_LEN..];
        // The ops, the checksum, the attributes and the write, while the
        // rows are copied into the vector buffer (reserved first: if that
        // fails, nothing runs and nothing was written).
        let attrs =
            nidus_kernel::extend_from_le_bytes_while(&mut model.vectors, block, threads, || {
                let items = records.iter().map(|r| (r.id.as_str(), &r.attrs));
                layout
                    .finish(collection, items, head, body, ops)
                    .map_err(|e| frame_log::format_error(e, path))?;
                let attrs = compact_attrs(&mut model.keys, records)?;
                frame_log::append(
                    &mut **file,
                    path,
                    *end,
                    &[head, body, ops],
                    sync,
                    cut_pending,
                )?;
                Ok::<_, Error>(attrs)
            })??;
        let written = self.frame.len() + self.ops.len();
        self.finish_upserts(collection, records, attrs, written, sync);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::error::{Error, ErrorKind, Result};
    use crate::options::Options;
    use crate::record::Record;
    use crate::store::Store;

    #[test]
    fn a_refused_big_upsert_gives_back_a_frame_buffer_over_64_mib() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::io("tempdir", Path::new("."), e))?;
        let dim = 1024;
        let mut store = Store::open(dir.path(), Options::new(dim).threads(1))?;
        // 17,000 rows of 4 KiB: a 70 MB frame, refused at its first row.
        let mut records: Vec<Record> = (0..17_000)
            .map(|i| Record::new(format!("r{i}"), vec![1.0f32; dim]))
            .collect();
        records[0].vector[0] = f32::NAN;
        let e = store.upsert("c", &records).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
        assert_eq!(store.frame.capacity(), 0, "the 70 MB frame was kept");
        assert_eq!(store.len(), 0);
        Ok(())
    }
}
