//! The store's use of the format crate: reading the header, streaming a
//! data file's batches into the model, and appending frames through the
//! I/O seam.

use std::io::{self, BufReader, IoSlice, Read, SeekFrom};
use std::path::Path;

use nidus_format::{BatchRef, End, FRAME_HEADER_LEN, Frame, HEADER_LEN, Header};

use crate::error::{Error, ErrorKind, Result};
use crate::io::StoreFile;

/// Read buffer for streaming a data file: big frames bypass it.
const READ_BUFFER: usize = 1 << 20;

/// Batches with at least this many payload bytes (1 MiB) are applied while
/// a second thread reads the next frame: below it a thread costs more than
/// the overlap saves.
const PIPELINE_MIN_BYTES: usize = 1 << 20;

/// Converts a format error about `path` into a store error.
pub(crate) fn format_error(e: nidus_format::FormatError, path: &Path) -> Error {
    use nidus_format::FormatErrorKind as F;
    let offset = e.offset().unwrap_or(0);
    let message = e.to_string();
    match e.kind() {
        F::Io => Error::new(ErrorKind::Io, message)
            .with_path(path)
            .with_source(e),
        F::InvalidInput { .. } => Error::invalid(message),
        F::TornTail { .. } | F::NotNidus | F::Corrupt { .. } => {
            Error::corrupt(message, path, offset)
        }
        _ => Error::corrupt(message, path, offset).with_source(e),
    }
}

/// What reading a stretch of frames found.
pub(crate) struct ReadOutcome {
    pub(crate) batches: u64,
    /// File offset just past the last batch applied.
    pub(crate) valid_end: u64,
    pub(crate) end: End,
    /// File offset where the last batch applied starts.
    pub(crate) last_frame: Option<u64>,
}

/// Reads the header of `file` (of length `len`).
pub(crate) fn read_header(file: &mut dyn StoreFile, path: &Path, len: u64) -> Result<Header> {
    file.seek(SeekFrom::Start(0))
        .map_err(|e| Error::io("reading the header", path, e))?;
    let reader = nidus_format::Reader::with_source(
        (&mut *file).take(HEADER_LEN as u64),
        Some(path),
        Some(len.min(HEADER_LEN as u64)),
    )
    .map_err(|e| format_error(e, path))?;
    Ok(*reader.header())
}

/// Streams the frames of `file` from byte `from` (just past the header or a
/// frame) to byte `len`, calling `apply` on every batch in order; with
/// `threads` (as [`crate::Options::threads`]) of two or more, big batches
/// are applied while a second thread reads the next frame.
///
/// Each batch is lent in place from one of two frame buffers
/// ([`nidus_format::Reader::next_frame_into`]): its vectors go from the
/// read buffer straight into the store's buffer and nothing is allocated
/// per op, so memory stays at the store plus two frame buffers, whatever
/// the file size. While a big batch is applied, the next frame is read on
/// a second thread.
///
/// Frames are read through a reader that sees the header followed by the
/// bytes from `from` on; offsets it reports are translated back.
pub(crate) fn read_frames(
    file: &mut dyn StoreFile,
    path: &Path,
    header: &Header,
    from: u64,
    len: u64,
    threads: usize,
    apply: &mut dyn FnMut(&BatchRef<'_>) -> Result<()>,
) -> Result<ReadOutcome> {
    let pipeline = crate::options::resolve_threads(threads) >= 2;
    file.seek(SeekFrom::Start(from))
        .map_err(|e| Error::io("reading the data file", path, e))?;
    let head = header.encode();
    let tail = len.saturating_sub(from);
    let shift = |off: u64| off - HEADER_LEN as u64 + from;
    let source = io::Cursor::new(head).chain(BufReader::with_capacity(
        READ_BUFFER,
        (&mut *file).take(tail),
    ));
    // Content rules on (SPEC.md §5.6): a frame whose rows are not finite
    // unit vectors ends the valid prefix like a bad checksum.
    let mut reader =
        nidus_format::Reader::with_source(source, Some(path), Some(HEADER_LEN as u64 + tail))
            .map_err(|e| format_error(e, path))?
            .enforce_content_rules();
    let mut batches = 0;
    let mut last_frame = None;
    let (mut current, mut next) = (Frame::new(), Frame::new());
    let mut start = reader.valid_end();
    let mut read = reader.next_frame_into(&mut current);
    loop {
        match read {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) if matches!(e.kind(), nidus_format::FormatErrorKind::Corrupt { .. }) => break,
            Err(e) => {
                let off = e.offset().map(shift);
                let mut err = format_error(e, path);
                if let Some(off) = off {
                    err = err.with_offset(off);
                }
                return Err(err);
            }
        }
        let Some(batch) = current.batch() else { break };
        let next_start = reader.valid_end();
        if pipeline && current.payload_len() >= PIPELINE_MIN_BYTES {
            // Read (and checksum, and validate) the next frame on a second
            // thread while this batch is applied.
            let applied;
            (applied, read) = std::thread::scope(|scope| {
                let reading = scope.spawn(|| reader.next_frame_into(&mut next));
                let applied = apply(&batch);
                let read = reading
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
                (applied, read)
            });
            applied?;
        } else {
            // Nothing more is read once a batch is refused.
            apply(&batch)?;
            read = reader.next_frame_into(&mut next);
        }
        batches += 1;
        last_frame = Some(shift(start));
        start = next_start;
        std::mem::swap(&mut current, &mut next);
    }
    let end = match reader.end() {
        Some(End::Clean { offset }) => End::Clean {
            offset: shift(*offset),
        },
        Some(End::TornTail { offset, dropped }) => End::TornTail {
            offset: shift(*offset),
            dropped: *dropped,
        },
        Some(End::Corrupt { offset, reason }) => End::Corrupt {
            offset: shift(*offset),
            reason: reason.clone(),
        },
        Some(other) => other.clone(),
        None => End::Clean {
            offset: shift(reader.valid_end()),
        },
    };
    Ok(ReadOutcome {
        batches,
        valid_end: shift(reader.valid_end()),
        end,
        last_frame,
    })
}

/// Appends one frame, given as `parts` written one after the other, at `at`
/// (the end of the last whole frame of `file`, at `path`) and, if `sync`,
/// makes it durable.
///
/// Every write path appends through here, so the failure handling lives in
/// one place: a failed append is cut back to `at` at once; if even the cut
/// fails, `cut_pending` is set so that the store cuts before it appends
/// anything else (nothing is ever appended after debris).
pub(crate) fn append(
    file: &mut dyn StoreFile,
    path: &Path,
    at: u64,
    parts: &[&[u8]],
    sync: bool,
    cut_pending: &mut bool,
) -> Result<()> {
    let written = file
        .seek(SeekFrom::Start(at))
        .and_then(|_| write_all_parts(file, parts))
        .and_then(|()| if sync { file.sync_data() } else { Ok(()) });
    written.map_err(|e| {
        *cut_pending = file.set_len(at).is_err();
        Error::io("appending a batch", path, e)
    })
}

/// Writes all of `parts` in order, as few calls as the file allows (one
/// `writev` for a real file), retrying short and interrupted writes.
fn write_all_parts(file: &mut dyn StoreFile, parts: &[&[u8]]) -> io::Result<()> {
    let mut slices: Vec<IoSlice<'_>> = parts.iter().map(|p| IoSlice::new(p)).collect();
    let mut left = &mut slices[..];
    IoSlice::advance_slices(&mut left, 0);
    while !left.is_empty() {
        match file.write_vectored(left) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::WriteZero,
                    "failed to write the whole frame",
                ));
            }
            Ok(n) => IoSlice::advance_slices(&mut left, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// A frame's header as stored: its checksum, then its payload length.
pub(crate) type FrameHead = [u8; FRAME_HEADER_LEN];

/// The frame header of the frame at `at`: what a read-only store remembers
/// of the last batch it applied, to notice that a writer cut that frame
/// back after a failed sync (SPEC.md §6.4.1).
pub(crate) fn frame_head(file: &mut dyn StoreFile, at: u64) -> io::Result<FrameHead> {
    let mut head = [0u8; FRAME_HEADER_LEN];
    file.seek(SeekFrom::Start(at))?;
    file.read_exact(&mut head)?;
    Ok(head)
}
