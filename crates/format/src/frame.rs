//! Frames (SPEC.md §4): `checksum u64 | length u32 | payload`, where the
//! checksum covers the length and the payload.

use std::ops::Range;

use crate::batch::Batch;
use crate::checksum::{Xxh64, checksum};
use crate::codec::{
    encode_payload, encode_upsert_ops, encode_upserts_payload, payload_len, put_upsert_counts,
    upsert_ops_len, upserts_payload_len,
};
use crate::error::FormatError;
use crate::header::Header;
use crate::value::Attributes;

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
/// Fails with [`FormatErrorKind::InvalidInput`](crate::FormatErrorKind::InvalidInput)
/// if `batch.vectors` does not hold one row of `header.dimension` values per
/// upsert, or if the payload would exceed [`MAX_PAYLOAD_LEN`].
pub fn encode_frame(batch: &Batch, header: &Header, out: &mut Vec<u8>) -> Result<(), FormatError> {
    let start = out.len();
    let result = encode_at(batch, header, out, start);
    if result.is_err() {
        out.truncate(start);
    }
    result
}

fn encode_at(
    batch: &Batch,
    header: &Header,
    out: &mut Vec<u8>,
    start: usize,
) -> Result<(), FormatError> {
    // Refuse an oversized batch before allocating anything for it.
    let expected = payload_len(batch, header);
    if expected > u64::from(MAX_PAYLOAD_LEN) {
        return Err(FormatError::invalid_input(format!(
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
            FormatError::invalid_input(format!(
                "the batch encodes to {len} bytes, over the frame limit of {MAX_PAYLOAD_LEN}"
            ))
        })?;
    let frame = &mut out[start..];
    frame[LENGTH_AT..FRAME_HEADER_LEN].copy_from_slice(&len.to_le_bytes());
    let sum = checksum(&frame[LENGTH_AT..]);
    frame[CHECKSUM_AT..LENGTH_AT].copy_from_slice(&sum.to_le_bytes());
    Ok(())
}

/// Appends one frame holding a batch of upserts into `collection`: the
/// same bytes as [`encode_frame`] of a [`Batch`] whose ops are
/// `Upsert { collection, id, attrs }` for each item of `upserts`, in order,
/// and whose vectors are `vectors`. Borrows everything: nothing is cloned
/// per record. On error `out` is left exactly as it was.
///
/// `upserts` is iterated twice (once to size the frame). Fails with
/// [`FormatErrorKind::InvalidInput`](crate::FormatErrorKind::InvalidInput) as
/// [`encode_frame`] does.
pub fn encode_upsert_frame<'a, I>(
    header: &Header,
    collection: &str,
    vectors: &[f32],
    upserts: I,
    out: &mut Vec<u8>,
) -> Result<(), FormatError>
where
    I: Iterator<Item = (&'a str, &'a Attributes)> + Clone,
{
    let start = out.len();
    let result = encode_upserts_at(header, collection, vectors, upserts, out, start);
    if result.is_err() {
        out.truncate(start);
    }
    result
}

fn encode_upserts_at<'a, I>(
    header: &Header,
    collection: &str,
    vectors: &[f32],
    upserts: I,
    out: &mut Vec<u8>,
    start: usize,
) -> Result<(), FormatError>
where
    I: Iterator<Item = (&'a str, &'a Attributes)> + Clone,
{
    let (rows, expected) = upserts_payload_len(header, collection, upserts.clone());
    let dim = header.dimension as usize;
    if rows.checked_mul(dim) != Some(vectors.len()) {
        return Err(FormatError::invalid_input(format!(
            "the batch has {rows} upserts of dimension {dim}, but holds {} vector values",
            vectors.len()
        )));
    }
    if expected > u64::from(MAX_PAYLOAD_LEN) {
        return Err(FormatError::invalid_input(format!(
            "the batch encodes to {expected} bytes, over the frame limit of {MAX_PAYLOAD_LEN}"
        )));
    }
    out.reserve_exact(FRAME_HEADER_LEN + expected as usize);
    out.resize(start + FRAME_HEADER_LEN, 0);
    encode_upserts_payload(collection, rows, vectors, upserts, out)?;
    let len = out.len() - start - FRAME_HEADER_LEN;
    debug_assert_eq!(
        len as u64, expected,
        "upserts_payload_len disagrees with the encoder"
    );
    // expected <= MAX_PAYLOAD_LEN was checked above.
    let len = u32::try_from(len).map_err(|_| FormatError::invalid_input("frame too large"))?;
    let frame = &mut out[start..];
    frame[LENGTH_AT..FRAME_HEADER_LEN].copy_from_slice(&len.to_le_bytes());
    let sum = checksum(&frame[LENGTH_AT..]);
    frame[CHECKSUM_AT..LENGTH_AT].copy_from_slice(&sum.to_le_bytes());
    Ok(())
}

/// An upsert frame built in place, for a writer that fills the vector block
/// itself (normalizing straight into it, on several threads) instead of
/// handing [`encode_upsert_frame`] finished vectors.
///
/// [`UpsertFrame::begin`] lays out the frame's header, counts and a zeroed
/// vector block in one buffer; the caller writes the rows as little-endian
/// `f32`s into [`UpsertFrame::vectors`]; [`UpsertFrame::finish`] encodes
/// the ops into a second buffer and fills in the length and the checksum.
/// The frame is then the first buffer followed by the second, byte for byte
/// what [`encode_upsert_frame`] writes for the same rows and records.
/// `finish` only reads the vector block, so other threads may read it
/// meanwhile (to copy the rows into memory, say).
#[derive(Debug, Clone)]
pub struct UpsertFrame {
    rows: usize,
    row_bytes: usize,
}

impl UpsertFrame {
    /// Clears `out` and lays out a frame of `rows` upserts of `header`'s
    /// dimension: a zeroed frame header, the counts, and a zeroed vector
    /// block. Fails with
    /// [`FormatErrorKind::InvalidInput`](crate::FormatErrorKind::InvalidInput) if the
    /// vector block alone exceeds [`MAX_PAYLOAD_LEN`].
    pub fn begin(
        header: &Header,
        rows: usize,
        out: &mut Vec<u8>,
    ) -> Result<UpsertFrame, FormatError> {
        let row_bytes = header.row_bytes();
        let block = (rows as u64).saturating_mul(row_bytes as u64);
        if block.saturating_add(8) > u64::from(MAX_PAYLOAD_LEN) {
            return Err(FormatError::invalid_input(format!(
                "{rows} rows of {row_bytes} bytes exceed the frame limit of {MAX_PAYLOAD_LEN}"
            )));
        }
        out.clear();
        let len = FRAME_HEADER_LEN + 8 + block as usize;
        out.try_reserve_exact(len).map_err(|e| {
            FormatError::invalid_input(format!("no memory for a {len}-byte frame: {e}"))
        })?;
        out.resize(FRAME_HEADER_LEN, 0);
        put_upsert_counts(rows, out)?;
        out.resize(len, 0);
        Ok(UpsertFrame { rows, row_bytes })
    }

    /// Where the vector block lies in the buffer `begin` laid out: row `r`
    /// at `r * dimension * 4` bytes from its start.
    pub fn vectors(&self) -> Range<usize> {
        let start = FRAME_HEADER_LEN + 8;
        start..start + self.rows * self.row_bytes
    }

    /// Encodes one `Upsert` op into `collection` per item of `upserts` into
    /// `ops` (cleared first, padding included), and completes the frame:
    /// `head` and `body` are the buffer `begin` laid out, split after
    /// [`FRAME_HEADER_LEN`] bytes; the length and checksum go into `head`.
    ///
    /// Fails with [`FormatErrorKind::InvalidInput`](crate::FormatErrorKind::InvalidInput)
    /// if `upserts` does not hold exactly the rows `begin` was given, if
    /// `body` is not the laid-out buffer, or if the payload would exceed
    /// [`MAX_PAYLOAD_LEN`]; `head` is then unchanged.
    pub fn finish<'a, I>(
        &self,
        collection: &str,
        upserts: I,
        head: &mut [u8; FRAME_HEADER_LEN],
        body: &[u8],
        ops: &mut Vec<u8>,
    ) -> Result<(), FormatError>
    where
        I: Iterator<Item = (&'a str, &'a Attributes)> + Clone,
    {
        if body.len() != self.vectors().end - FRAME_HEADER_LEN {
            return Err(FormatError::invalid_input(format!(
                "the frame body holds {} bytes, not the {} laid out",
                body.len(),
                self.vectors().end - FRAME_HEADER_LEN
            )));
        }
        let (rows, ops_len) = upsert_ops_len(collection, upserts.clone());
        if rows != self.rows {
            return Err(FormatError::invalid_input(format!(
                "the frame was laid out for {} rows but {rows} records were given",
                self.rows
            )));
        }
        // The body after the frame header is the counts and the vectors.
        let payload_len = (body.len() as u64 + ops_len).next_multiple_of(4);
        if payload_len > u64::from(MAX_PAYLOAD_LEN) {
            return Err(FormatError::invalid_input(format!(
                "the batch encodes to {payload_len} bytes, over the frame limit of {MAX_PAYLOAD_LEN}"
            )));
        }
        ops.clear();
        ops.try_reserve_exact((payload_len - body.len() as u64) as usize)
            .map_err(|e| FormatError::invalid_input(format!("no memory for the ops: {e}")))?;
        encode_upsert_ops(collection, upserts, ops)?;
        debug_assert_eq!(
            ops.len() as u64,
            ops_len,
            "upsert_ops_len disagrees with the encoder"
        );
        ops.resize((payload_len - body.len() as u64) as usize, 0);
        // payload_len <= MAX_PAYLOAD_LEN (checked above) fits in a u32.
        let len = (payload_len as u32).to_le_bytes();
        let mut sum = Xxh64::new(0);
        sum.update(&len);
        sum.update(body);
        sum.update(ops);
        head[LENGTH_AT..FRAME_HEADER_LEN].copy_from_slice(&len);
        head[CHECKSUM_AT..LENGTH_AT].copy_from_slice(&sum.finish().to_le_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::batch::Op;
    use crate::value::Value;

    #[test]
    fn upsert_frame_matches_encode_frame_byte_for_byte() {
        let header = Header::new(3).unwrap();
        let mut a = Attributes::new();
        a.insert("path".into(), Value::Str("src/a.rs".into()));
        a.insert("n".into(), Value::Int(-7));
        a.insert("tags".into(), Value::List(vec!["x".into(), String::new()]));
        a.insert("f".into(), Value::Float(f64::NAN));
        a.insert("z".into(), Value::Null);
        let b = Attributes::new();
        // 2000 rows: the vector block spans several conversion chunks.
        let ids: Vec<String> = (0..2000).map(|i| format!("id-{i}")).collect();
        let attrs: Vec<&Attributes> = (0..2000)
            .map(|i| if i % 3 == 0 { &a } else { &b })
            .collect();
        let vectors: Vec<f32> = (0..2000 * 3).map(|i| i as f32 * -0.37 + 0.5).collect();
        let batch = Batch {
            ops: ids
                .iter()
                .zip(&attrs)
                .map(|(id, at)| Op::Upsert {
                    collection: "docs".into(),
                    id: id.clone(),
                    attrs: (*at).clone(),
                })
                .collect(),
            vectors: vectors.clone(),
        };
        let mut want = vec![9u8; 5];
        encode_frame(&batch, &header, &mut want).unwrap();
        let mut got = vec![9u8; 5];
        let items = ids.iter().map(String::as_str).zip(attrs.iter().copied());
        encode_upsert_frame(&header, "docs", &vectors, items, &mut got).unwrap();
        assert_eq!(got, want);
    }

    #[test]
    fn upsert_frame_refuses_a_vector_count_mismatch_and_leaves_out_alone() {
        let header = Header::new(3).unwrap();
        let a = Attributes::new();
        let mut out = vec![1u8, 2, 3];
        let items = ["x", "y"].into_iter().zip([&a, &a]);
        let e = encode_upsert_frame(&header, "c", &[1.0; 5], items, &mut out).unwrap_err();
        assert!(e.to_string().contains("2 upserts"), "{e}");
        assert_eq!(out, [1, 2, 3]);
    }

    /// Builds a frame through [`UpsertFrame`], filling the block from
    /// `vectors`, and returns its bytes (first buffer, then ops).
    fn in_place(
        header: &Header,
        ids: &[String],
        attrs: &[&Attributes],
        vectors: &[f32],
    ) -> Vec<u8> {
        let mut frame = vec![7u8; 3];
        let layout = UpsertFrame::begin(header, ids.len(), &mut frame).unwrap();
        for (cell, v) in frame[layout.vectors()].chunks_exact_mut(4).zip(vectors) {
            cell.copy_from_slice(&v.to_le_bytes());
        }
        let (head, body) = frame.split_first_chunk_mut::<FRAME_HEADER_LEN>().unwrap();
        let mut ops = vec![1u8; 9];
        let items = ids.iter().map(String::as_str).zip(attrs.iter().copied());
        layout.finish("docs", items, head, body, &mut ops).unwrap();
        frame.extend_from_slice(&ops);
        frame
    }

    #[test]
    fn an_upsert_frame_built_in_place_is_the_encoded_one_byte_for_byte() {
        let mut a = Attributes::new();
        a.insert("path".into(), Value::Str("src/a.rs".into()));
        a.insert("tags".into(), Value::List(vec!["x".into()]));
        let b = Attributes::new();
        for dim in [1u32, 3, 8] {
            let header = Header::new(dim).unwrap();
            // Row counts whose op bytes leave every padding length.
            for rows in [0usize, 1, 2, 3, 5, 11, 700] {
                let ids: Vec<String> = (0..rows).map(|i| "x".repeat(1 + i % 5)).collect();
                let attrs: Vec<&Attributes> = (0..rows)
                    .map(|i| if i % 2 == 0 { &a } else { &b })
                    .collect();
                let vectors: Vec<f32> = (0..rows * dim as usize)
                    .map(|i| i as f32 * 0.25 - 3.0)
                    .collect();
                let mut want = Vec::new();
                let items = ids.iter().map(String::as_str).zip(attrs.iter().copied());
                encode_upsert_frame(&header, "docs", &vectors, items, &mut want).unwrap();
                let got = in_place(&header, &ids, &attrs, &vectors);
                assert!(got == want, "dim {dim}, rows {rows}");
            }
        }
    }

    #[test]
    fn finishing_refuses_a_row_mismatch_or_a_foreign_body_and_leaves_the_head() {
        let header = Header::new(2).unwrap();
        let a = Attributes::new();
        let mut frame = Vec::new();
        let layout = UpsertFrame::begin(&header, 2, &mut frame).unwrap();
        assert_eq!(
            layout.vectors(),
            FRAME_HEADER_LEN + 8..FRAME_HEADER_LEN + 8 + 16
        );
        let (head, body) = frame.split_first_chunk_mut::<FRAME_HEADER_LEN>().unwrap();
        let mut ops = Vec::new();
        let three = ["x", "y", "z"].into_iter().zip([&a, &a, &a]);
        let e = layout.finish("c", three, head, body, &mut ops).unwrap_err();
        assert!(e.to_string().contains("laid out for 2 rows"), "{e}");
        let two = ["x", "y"].into_iter().zip([&a, &a]);
        let e = layout
            .finish("c", two, head, &body[1..], &mut ops)
            .unwrap_err();
        assert!(e.to_string().contains("not the"), "{e}");
        assert_eq!(head, &[0u8; FRAME_HEADER_LEN]);
        let huge = UpsertFrame::begin(&header, usize::MAX / 2, &mut frame).unwrap_err();
        assert!(huge.to_string().contains("frame limit"), "{huge}");
    }
}
