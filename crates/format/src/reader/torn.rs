//! The safety scan that tells a torn tail from damage in the middle of the
//! file: a last frame that does not verify is only a torn tail if no whole
//! valid frame hides in the bytes after its header (SPEC.md §6.2).

use crate::checksum::checksum;
use crate::codec::MIN_OP_LEN;
use crate::frame::{FRAME_HEADER_LEN, MAX_PAYLOAD_LEN, MIN_PAYLOAD_LEN};

/// What [`find_frame`] concluded.
pub(super) enum Scan {
    /// A whole, verifying frame starts at this offset of the region.
    Found(usize),
    /// No frame can start anywhere in the region.
    None,
    /// Too many candidates to check within the work budget.
    GaveUp,
}

/// Looks for a whole frame that verifies inside `region` (bytes that start
/// at a 4-aligned file offset, as every frame does). Cheap plausibility
/// checks come before the checksum, and the bytes checksummed are capped at
/// eight times the region (plus 16 MiB), so a crafted region cannot make
/// this quadratic.
pub(super) fn find_frame(region: &[u8], row_bytes: usize) -> Scan {
    let mut budget = region.len().saturating_mul(8).saturating_add(16 << 20);
    let mut p = 0;
    while p + FRAME_HEADER_LEN + MIN_PAYLOAD_LEN as usize <= region.len() {
        let word =
            |i: usize| u32::from_le_bytes([region[i], region[i + 1], region[i + 2], region[i + 3]]);
        let len = word(p + 8);
        let fits = (MIN_PAYLOAD_LEN..=MAX_PAYLOAD_LEN).contains(&len)
            && len.is_multiple_of(4)
            && p + FRAME_HEADER_LEN + len as usize <= region.len();
        if fits {
            let len = len as usize;
            let ops = word(p + 12) as u64;
            let rows = word(p + 16) as u64;
            // Cheap structure before the checksum: every row has its
            // upsert op, the counts, the vector block and the smallest
            // encoding of every op fit in the length, a payload without
            // ops is just its counts, and an op tag is never 0. Byte runs
            // inside ops (small integers everywhere) pass the length test
            // often; these rule nearly all of them out before they cost
            // checksum work.
            let ops_at = 8 + rows * row_bytes as u64;
            let plausible = rows <= ops
                && ops_at + ops * MIN_OP_LEN as u64 <= len as u64
                && (ops > 0 || len == 8)
                && (ops == 0 || region[p + FRAME_HEADER_LEN + ops_at as usize] != 0);
            if plausible {
                if budget < len {
                    return Scan::GaveUp;
                }
                budget -= len;
                let mut sum = [0u8; 8];
                sum.copy_from_slice(&region[p..p + 8]);
                if checksum(&region[p + 8..p + FRAME_HEADER_LEN + len]) == u64::from_le_bytes(sum) {
                    return Scan::Found(p);
                }
            }
        }
        p += 4;
    }
    Scan::None
}
