//! [`Frame`]: a validated frame owned by the caller of
//! [`Reader::next_frame_into`](crate::Reader::next_frame_into), and where
//! its batch lies in its bytes.

use crate::view::BatchRef;

/// A frame read by
/// [`Reader::next_frame_into`](crate::Reader::next_frame_into), owned by
/// the caller: its bytes (checksum verified, payload validated) and where
/// the batch lies in them.
#[derive(Debug, Default)]
pub struct Frame {
    /// Payload length (4 bytes), then the payload.
    pub(super) bytes: Vec<u8>,
    pub(super) layout: Option<Layout>,
}

/// Where a validated batch lies in a [`Frame`]'s bytes.
#[derive(Debug, Clone, Copy)]
pub(super) struct Layout {
    op_count: usize,
    row_count: usize,
    dimension: usize,
    vectors_len: usize,
    ops_len: usize,
}

/// The payload starts after its 4-byte length; the vector block after the
/// payload's two counts (SPEC.md §5.1).
const VECTORS_AT: usize = 4 + 8;

impl Layout {
    pub(super) fn of(view: &BatchRef<'_>) -> Layout {
        Layout {
            op_count: view.op_count(),
            row_count: view.row_count(),
            dimension: view.dimension(),
            vectors_len: view.vector_bytes().len(),
            ops_len: view.op_bytes().len(),
        }
    }
}

impl Frame {
    /// An empty frame (no batch, no buffer yet).
    pub fn new() -> Frame {
        Frame::default()
    }

    /// The batch the last successful
    /// [`Reader::next_frame_into`](crate::Reader::next_frame_into) read, or
    /// `None` if the last read found no batch or failed.
    pub fn batch(&self) -> Option<BatchRef<'_>> {
        let l = self.layout?;
        let vectors = &self.bytes[VECTORS_AT..VECTORS_AT + l.vectors_len];
        let ops_at = VECTORS_AT + l.vectors_len;
        let ops = &self.bytes[ops_at..ops_at + l.ops_len];
        Some(BatchRef::from_parts(
            l.op_count,
            l.row_count,
            l.dimension,
            vectors,
            ops,
        ))
    }

    /// Bytes held by the frame's buffer.
    pub fn capacity(&self) -> usize {
        self.bytes.capacity()
    }

    /// The payload bytes of the batch [`Frame::batch`] lends (0 if none).
    pub fn payload_len(&self) -> usize {
        self.layout
            .map_or(0, |l| VECTORS_AT - 4 + l.vectors_len + l.ops_len)
    }
}
