//! A seeded mutation loop: valid files damaged at random (bit flips,
//! truncations, length-field edits, absurd dimensions and counts with their
//! checksums repaired so the decoder itself is attacked, inserted and
//! deleted bytes). The reader must never panic, never allocate much beyond
//! the input's size, and always end in a clean report or a typed error.

use nidus_format::{Batch, End, ErrorKind, HEADER_LEN, MAX_DIMENSION, MAX_PAYLOAD_LEN, Reader};

use crate::common::{FRAME_HEAD, RandomBatches, Rng, image};

const CASES: u64 = 20_000;

/// Interesting u32 values for length and count fields.
fn absurd(rng: &mut Rng, near: u32) -> u32 {
    let picks = [
        0,
        1,
        3,
        4,
        7,
        8,
        near.wrapping_sub(4),
        near.wrapping_add(4),
        near.wrapping_mul(2),
        MAX_PAYLOAD_LEN,
        MAX_PAYLOAD_LEN + 4,
        MAX_DIMENSION,
        MAX_DIMENSION + 1,
        u32::MAX / 5,
        u32::MAX - 3,
        u32::MAX,
        rng.next_u64() as u32,
    ];
    picks[rng.below(picks.len())]
}

fn put_u32(bytes: &mut [u8], at: usize, v: u32) {
    if at + 4 <= bytes.len() {
        bytes[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }
}

fn get_u32(bytes: &[u8], at: usize) -> u32 {
    bytes
        .get(at..at + 4)
        .map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// Repairs the checksum of the frame at `start` (if it is still whole), so
/// the payload decoder, not the checksum, must catch the damage.
fn rechecksum_frame(bytes: &mut [u8], start: usize) {
    let len = get_u32(bytes, start + 8) as usize;
    let end = start + FRAME_HEAD + len;
    if end <= bytes.len() {
        let sum = nidus_format::checksum(&bytes[start + 8..end]);
        bytes[start..start + 8].copy_from_slice(&sum.to_le_bytes());
    }
}

fn rechecksum_header(bytes: &mut [u8]) {
    if bytes.len() >= HEADER_LEN {
        let sum = nidus_format::checksum(&bytes[..24]);
        bytes[24..32].copy_from_slice(&sum.to_le_bytes());
    }
}

fn mutate(rng: &mut Rng, bytes: &mut Vec<u8>, offsets: &[u64]) {
    let frame = offsets[rng.below(offsets.len())] as usize;
    match rng.below(9) {
        0 => {
            let i = rng.below(bytes.len());
            bytes[i] ^= 1 << rng.below(8);
        }
        1 => {
            let cut = rng.below(bytes.len() + 1);
            bytes.truncate(cut);
        }
        2 => {
            let near = get_u32(bytes, frame + 8);
            let v = absurd(rng, near);
            put_u32(bytes, frame + 8, v);
            if rng.one_in(2) {
                rechecksum_frame(bytes, frame);
            }
        }
        3 => {
            let v = absurd(rng, 4);
            put_u32(bytes, 12, v);
            rechecksum_header(bytes);
        }
        4 => {
            // A count or length inside a payload, then a valid checksum.
            let len = get_u32(bytes, frame + 8) as usize;
            if len >= 4 {
                let at = frame + FRAME_HEAD + rng.below(len - 3);
                let near = get_u32(bytes, at);
                let v = absurd(rng, near);
                put_u32(bytes, at, v);
                rechecksum_frame(bytes, frame);
            }
        }
        5 => {
            // A random byte inside a payload (tags, UTF-8), checksum repaired.
            let len = get_u32(bytes, frame + 8) as usize;
            if len > 0 && frame + FRAME_HEAD + len <= bytes.len() {
                let at = frame + FRAME_HEAD + rng.below(len);
                bytes[at] = rng.next_u64() as u8;
                rechecksum_frame(bytes, frame);
            }
        }
        6 => {
            let at = rng.below(bytes.len() + 1);
            let n = 1 + rng.below(16);
            let junk: Vec<u8> = (0..n).map(|_| rng.next_u64() as u8).collect();
            bytes.splice(at..at, junk);
        }
        7 => {
            let at = rng.below(bytes.len());
            let n = (1 + rng.below(16)).min(bytes.len() - at);
            bytes.drain(at..at + n);
        }
        _ => {
            // Header fields other than the dimension: version, element type.
            let at = 8 + rng.below(16);
            if let Some(b) = bytes.get_mut(at) {
                *b = rng.next_u64() as u8;
            }
            if rng.one_in(2) {
                rechecksum_header(bytes);
            }
        }
    }
}

#[test]
fn random_damage_never_panics_never_over_allocates_and_always_reports() {
    let mut rng = Rng::new(0x5eed);
    let mut outcomes = [0usize; 4]; // clean, torn, corrupt, other error
    for case in 0..CASES {
        let dim = 1 + rng.below(6) as u32;
        let header = nidus_format::Header::new(dim).unwrap();
        let batches: Vec<Batch> = (0..1 + rng.below(4)).map(|_| rng.batch(dim, 5)).collect();
        let (mut bytes, offsets) = image(&header, &batches);
        for _ in 0..1 + rng.below(3) {
            if bytes.is_empty() {
                break;
            }
            mutate(&mut rng, &mut bytes, &offsets);
        }
        let len = bytes.len() as u64;
        let known = rng.one_in(2).then_some(len);
        let mut reader = match Reader::with_source(bytes.as_slice(), None, known) {
            Ok(r) => r,
            Err(e) => {
                assert!(
                    matches!(
                        e.kind(),
                        ErrorKind::NotNidus
                            | ErrorKind::Corrupt { .. }
                            | ErrorKind::TornTail { .. }
                            | ErrorKind::UnsupportedVersion { .. }
                            | ErrorKind::UnsupportedElementType { .. }
                    ),
                    "case {case}: header error {e}"
                );
                assert_eq!(e.offset(), Some(0), "case {case}");
                outcomes[3] += 1;
                continue;
            }
        };
        let mut batch = Batch::default();
        let mut frames = 0;
        // A third of the cases read through borrowed views, and a third
        // through caller-owned frames (two, alternating, as the store reads
        // them), walking every op, attribute and list item (a re-parse
        // failure trips a debug assertion inside the crate).
        let walk = |v: nidus_format::BatchRef<'_>, batch: &mut Batch| {
            for op in v.ops() {
                if let nidus_format::OpRef::Upsert { attrs, .. } = op {
                    for (_, value) in attrs.iter() {
                        if let nidus_format::ValueRef::List(l) = value {
                            assert_eq!(l.iter().count(), l.len());
                        }
                    }
                }
            }
            v.to_batch(batch);
        };
        let mut frames_owned = [nidus_format::Frame::new(), nidus_format::Frame::new()];
        let outcome = loop {
            let step = match case % 3 {
                1 => reader
                    .next_ref()
                    .map(|view| view.map(|v| walk(v, &mut batch)).is_some()),
                2 => {
                    let frame = &mut frames_owned[frames % 2];
                    reader.next_frame_into(frame).inspect(|&more| {
                        let view = frame.batch();
                        assert_eq!(view.is_some(), more, "case {case}");
                        if let Some(v) = view {
                            walk(v, &mut batch);
                        }
                    })
                }
                _ => reader.next_into(&mut batch),
            };
            match step {
                Ok(true) => {
                    frames += 1;
                    assert!(frames <= 64, "case {case}: more frames than bytes allow");
                }
                Ok(false) => break Ok(reader.end().cloned().unwrap()),
                Err(e) => break Err(e),
            }
            // Memory stays within what the input's size justifies.
            assert!(
                batch.vectors.capacity() * 4 <= 2 * bytes.len(),
                "case {case}: vectors"
            );
            assert!(
                batch.ops.capacity() * 5 <= 2 * bytes.len().max(4 * 5),
                "case {case}: ops"
            );
        };
        assert!(
            reader.buffer_capacity() <= 2 * bytes.len() + (64 << 10),
            "case {case}: buffer {} for {} bytes",
            reader.buffer_capacity(),
            bytes.len()
        );
        match outcome {
            Ok(End::Clean { offset }) => {
                assert_eq!(offset, len, "case {case}");
                outcomes[0] += 1;
            }
            Ok(End::TornTail { offset, dropped }) => {
                assert_eq!(offset + dropped, len, "case {case}");
                outcomes[1] += 1;
            }
            Err(e) => {
                assert!(
                    matches!(
                        e.kind(),
                        ErrorKind::Corrupt { .. } | ErrorKind::UnsupportedVersion { .. }
                    ),
                    "case {case}: {e}"
                );
                assert_eq!(e.offset(), Some(reader.valid_end()), "case {case}");
                outcomes[2] += 1;
            }
            Ok(other) => panic!("case {case}: unexpected end {other:?}"),
        }
    }
    // The loop reaches every kind of outcome, or it proves little.
    eprintln!("outcomes (clean, torn, corrupt, header error): {outcomes:?}");
    assert!(
        outcomes.iter().all(|&n| n > CASES as usize / 50),
        "{outcomes:?}"
    );
}
