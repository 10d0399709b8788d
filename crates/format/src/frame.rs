//! Frames (SPEC.md §4): `checksum u64 | length u32 | payload`, where the
//! checksum covers the length and the payload.

use crate::batch::Batch;
use crate::checksum::checksum;
use crate::codec::{encode_payload, encode_upserts_payload, payload_len, upserts_payload_len};
use crate::error::Error;
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

/// Appends one frame holding a batch of upserts into `collection`: the
/// same bytes as [`encode_frame`] of a [`Batch`] whose ops are
/// `Upsert { collection, id, attrs }` for each item of `upserts`, in order,
/// and whose vectors are `vectors`. Borrows everything: nothing is cloned
/// per record. On error `out` is left exactly as it was.
///
/// `upserts` is iterated twice (once to size the frame). Fails with
/// [`ErrorKind::InvalidInput`](crate::ErrorKind::InvalidInput) as
/// [`encode_frame`] does.
pub fn encode_upsert_frame<'a, I>(
    header: &Header,
    collection: &str,
    vectors: &[f32],
    upserts: I,
    out: &mut Vec<u8>,
) -> Result<(), Error>
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
) -> Result<(), Error>
where
    I: Iterator<Item = (&'a str, &'a Attributes)> + Clone,
{
    let (rows, expected) = upserts_payload_len(header, collection, upserts.clone());
    let dim = header.dimension as usize;
    if rows.checked_mul(dim) != Some(vectors.len()) {
        return Err(Error::invalid_input(format!(
            "the batch has {rows} upserts of dimension {dim}, but holds {} vector values",
            vectors.len()
        )));
    }
    if expected > u64::from(MAX_PAYLOAD_LEN) {
        return Err(Error::invalid_input(format!(
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
    let len = u32::try_from(len).map_err(|_| Error::invalid_input("frame too large"))?;
    let frame = &mut out[start..];
    frame[LENGTH_AT..FRAME_HEADER_LEN].copy_from_slice(&len.to_le_bytes());
    let sum = checksum(&frame[LENGTH_AT..]);
    frame[CHECKSUM_AT..LENGTH_AT].copy_from_slice(&sum.to_le_bytes());
    Ok(())
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
}
