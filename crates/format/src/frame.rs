//! Frames (SPEC.md §4): `checksum u64 | length u32 | payload`, where the
//! checksum covers the length and the payload.

use crate::batch::Batch;
use crate::checksum::checksum;
use crate::codec::{encode_payload, payload_len};
use crate::error::Error;
use crate::header::Header;

/// Bytes before a frame's payload: checksum (8) and payload length (4).
pub const FRAME_HEADER_LEN: usize = 12;

/// The largest payload a frame may declare (1 GiB, SPEC.md §4). The writer
/// refuses bigger batches and the reader treats a bigger length as damage,
/// so no length field can make a reader allocate more than this.
pub const MAX_PAYLOAD_LEN: u32 = 1 << 30;

/// The smallest valid payload: the op count and the row count.
pub(crate) const MIN_PAYLOAD_LEN: u32 = 8;

pub(crate) const CHECKSUM_AT: usize = 0;
pub(crate) const LENGTH_AT: usize = CHECKSUM_AT + 8;
const _: () = assert!(LENGTH_AT + 4 == FRAME_HEADER_LEN);

/// Appends one complete frame holding `batch` to `out`, ready to be written
/// to the file in one piece. The bytes depend only on `batch` and
/// `header` (deterministic). On error `out` is left exactly as it was.
///
/// Fails with [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput)
/// if `batch.vectors` does not hold one row of `header.dimension` values per
/// upsert, or if the payload would exceed [`MAX_PAYLOAD_LEN`].
pub fn encode_frame(batch: &Batch, header: &Header, out: &mut Vec<u8>) -> Result<(), Error> {
    let start = out.len();
    let result = encode_at(batch, header, out, start);
    if result.is_err() {
        out.truncate(start);
    }
    result
}

fn encode_at(batch: &Batch, header: &Header, out: &mut Vec<u8>, start: usize) -> Result<(), Error> {
    // Refuse an oversized batch before allocating anything for it.
    let expected = payload_len(batch, header);
    if expected > u64::from(MAX_PAYLOAD_LEN) {
        return Err(Error::invalid_input(format!(
            "the batch encodes to {expected} bytes, over the frame limit of {MAX_PAYLOAD_LEN}"
        )));
    }
    out.reserve_exact(FRAME_HEADER_LEN + expected as usize);
    out.resize(start + FRAME_HEADER_LEN, 0);
    encode_payload(batch, header, out)?;
    let len = out.len() - start - FRAME_HEADER_LEN;
    debug_assert_eq!(
        len as u64, expected,
        "payload_len disagrees with the encoder"
    );
    let len = u32::try_from(len)
        .ok()
        .filter(|&l| l <= MAX_PAYLOAD_LEN)
        .ok_or_else(|| {
            Error::invalid_input(format!(
                "the batch encodes to {len} bytes, over the frame limit of {MAX_PAYLOAD_LEN}"
            ))
        })?;
    let frame = &mut out[start..];
    frame[LENGTH_AT..FRAME_HEADER_LEN].copy_from_slice(&len.to_le_bytes());
    let sum = checksum(&frame[LENGTH_AT..]);
    frame[CHECKSUM_AT..LENGTH_AT].copy_from_slice(&sum.to_le_bytes());
    Ok(())
}
