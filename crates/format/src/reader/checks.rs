//! The checks a loaded frame passes before the reader lends it out: the
//! checksum (with the content rules in the same pass), the payload
//! grammar, and the bookkeeping of a failure.

use std::path::Path;

use super::End;
use crate::checksum::Xxh64;
use crate::codec::parse_payload;
use crate::content::{RowFault, check_vector_block};
use crate::error::{FormatError, FormatErrorKind};
use crate::frame::FRAME_HEADER_LEN;
use crate::header::Header;
use crate::view::BatchRef;

/// Rows of the vector block checked per piece of the checksum pass: about
/// 32 KiB, so a piece is still in L1/L2 when its rows are checked.
const CHECK_PIECE_BYTES: usize = 32 << 10;

/// The checksum of `frame` (payload length, then payload) and, in the same
/// pass, the first row of its vector block that breaks the content rules.
/// The block is hashed and checked piece by piece, so the bytes are read
/// from memory once.
///
/// The row count is read before the checksum has vouched for it: it only
/// chooses which bytes to check, and a block that cannot fit in the
/// payload is not checked at all (the grammar check refuses that frame).
pub(super) fn checksum_and_check(frame: &[u8], header: &Header) -> (u64, Option<RowFault>) {
    const BLOCK_AT: usize = 4 + 8;
    let dim = header.dimension as usize;
    let row_bytes = header.row_bytes();
    let rows = frame
        .get(8..BLOCK_AT)
        .map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as u64);
    let block_len = rows * row_bytes as u64;
    let block_end = if BLOCK_AT as u64 + block_len <= frame.len() as u64 {
        BLOCK_AT + block_len as usize
    } else {
        BLOCK_AT.min(frame.len())
    };
    let mut sum = Xxh64::new(0);
    sum.update(&frame[..BLOCK_AT.min(frame.len())]);
    let piece = (CHECK_PIECE_BYTES / row_bytes).max(1) * row_bytes;
    let mut fault = None;
    let mut first_row = 0;
    for rows in frame[BLOCK_AT.min(block_end)..block_end].chunks(piece) {
        sum.update(rows);
        if fault.is_none()
            && let Err(mut bad) = check_vector_block(rows, dim)
        {
            bad.row += first_row;
            fault = Some(bad);
        }
        first_row += rows.len() / row_bytes;
    }
    sum.update(&frame[block_end..]);
    (sum.finish(), fault)
}

/// The content rules' verdict on the frame at `at` whose grammar passed:
/// its first bad row, if any, as corruption of the frame.
pub(super) fn content_verdict(
    fault: Option<RowFault>,
    header: &Header,
    at: u64,
) -> Result<(), FormatError> {
    match fault {
        None => Ok(()),
        Some(bad) => {
            let row_at =
                at + (FRAME_HEADER_LEN + 8) as u64 + bad.row as u64 * header.row_bytes() as u64;
            Err(FormatError::corrupt(at, format!("{bad}, at byte {row_at}")))
        }
    }
}

/// Validates the payload just loaded at `*pos` (its grammar, then the
/// content rules' verdict `fault`) and, if it is valid, moves `*pos` past
/// its frame; a failure is recorded as [`record_failure`] does.
pub(super) fn validate_loaded<'a>(
    payload: &'a [u8],
    header: &Header,
    fault: Option<RowFault>,
    pos: &mut u64,
    end: &mut Option<End>,
    stopped: &mut Option<(FormatErrorKind, Option<u64>)>,
    path: Option<&Path>,
) -> Result<BatchRef<'a>, FormatError> {
    let at = *pos;
    let parsed = parse_payload(payload, header, at + FRAME_HEADER_LEN as u64, at, &mut ())
        .and_then(|view| content_verdict(fault, header, at).map(|()| view));
    match parsed {
        Ok(view) => {
            *pos = at + (FRAME_HEADER_LEN + payload.len()) as u64;
            Ok(view)
        }
        Err(err) => Err(record_failure(end, stopped, path, at, err)),
    }
}

/// Records why the reader stopped (corruption in `end`, anything else in
/// `stopped`, replayed by later calls) and names the file in the error.
pub(super) fn record_failure(
    end: &mut Option<End>,
    stopped: &mut Option<(FormatErrorKind, Option<u64>)>,
    path: Option<&Path>,
    at: u64,
    err: FormatError,
) -> FormatError {
    if let FormatErrorKind::Corrupt { reason } = err.kind() {
        *end = Some(End::Corrupt {
            offset: at,
            reason: reason.clone(),
        });
    } else {
        *stopped = Some((err.kind().clone(), err.offset()));
    }
    err.with_opt_path(path)
}
