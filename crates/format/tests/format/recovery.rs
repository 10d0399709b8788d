//! Where the valid prefix ends and why (SPEC.md §6.2), one test per case
//! in the manner of LevelDB's log_test: each asserts the outcome, the
//! offset and the dropped byte count.

use nidus_format::{Batch, End, ErrorKind, HEADER_LEN, Header, Reader};

use crate::common::{
    FRAME_HEAD, FRAME_START, RandomBatches, Rng, every_kind, image, read_all, same,
};

fn sample() -> (Header, Vec<Batch>, Vec<u8>, Vec<u64>) {
    let header = Header::new(5).unwrap();
    let batches = every_kind(5);
    let (bytes, offsets) = image(&header, &batches);
    (header, batches, bytes, offsets)
}

#[test]
fn a_cut_at_every_byte_of_the_last_frame_is_a_torn_tail() {
    let (header, batches, bytes, offsets) = sample();
    let last = *offsets.last().unwrap() as usize;
    for cut in last + 1..bytes.len() {
        for known_len in [false, true] {
            let (read, end) = read_all(&bytes[..cut], known_len);
            assert_eq!(
                end.unwrap(),
                End::TornTail {
                    offset: last as u64,
                    dropped: (cut - last) as u64
                },
                "cut {cut} known_len {known_len}"
            );
            assert!(same(&header, &read, &batches[..batches.len() - 1]));
        }
    }
    // A cut exactly at a frame boundary is a clean, shorter file.
    let (read, end) = read_all(&bytes[..last], true);
    assert_eq!(
        end.unwrap(),
        End::Clean {
            offset: last as u64
        }
    );
    assert_eq!(read.len(), batches.len() - 1);
}

#[test]
fn a_cut_inside_a_big_last_frame_is_a_torn_tail_at_every_byte() {
    // A frame holding a real vector block, cut everywhere.
    let header = Header::new(64).unwrap();
    let mut rng = Rng::new(11);
    let batches: Vec<Batch> = (0..3).map(|_| rng.batch(64, 12)).collect();
    let (bytes, offsets) = image(&header, &batches);
    let last = offsets[2] as usize;
    for cut in last + 1..bytes.len() {
        let (read, end) = read_all(&bytes[..cut], cut % 2 == 0);
        assert_eq!(
            end.unwrap(),
            End::TornTail {
                offset: last as u64,
                dropped: (cut - last) as u64
            }
        );
        assert_eq!(read.len(), 2);
    }
}

#[test]
fn a_whole_last_frame_with_a_bad_checksum_is_a_torn_tail() {
    let (_, batches, bytes, offsets) = sample();
    let last = *offsets.last().unwrap() as usize;
    // Checksum and payload bytes; the length field has its own test.
    for i in (last..last + 8).chain(last + FRAME_HEAD..bytes.len()) {
        let mut damaged = bytes.clone();
        damaged[i] ^= 0x40;
        let (read, end) = read_all(&damaged, true);
        let end = end.unwrap_or_else(|e| panic!("byte {i}: {e}"));
        assert_eq!(end.valid_end(), last as u64, "byte {i}");
        assert!(matches!(end, End::TornTail { .. }), "byte {i}: {end:?}");
        assert_eq!(read.len(), batches.len() - 1);
    }
}

#[test]
fn a_damaged_length_in_the_last_frame_is_torn_if_longer_corrupt_if_shorter() {
    let (_, batches, bytes, offsets) = sample();
    let last = *offsets.last().unwrap() as usize;
    let len = u32::from_le_bytes(bytes[last + 8..last + 12].try_into().unwrap());
    let with_len = |l: u32| {
        let mut d = bytes.clone();
        d[last + 8..last + 12].copy_from_slice(&l.to_le_bytes());
        d
    };
    // Longer: the frame seems to run past the end, as a cut-short append
    // does, and no valid frame hides in what is there.
    let (read, end) = read_all(&with_len(len + 64), true);
    assert_eq!(
        end.unwrap(),
        End::TornTail {
            offset: last as u64,
            dropped: (bytes.len() - last) as u64
        }
    );
    assert_eq!(read.len(), batches.len() - 1);
    // Shorter (or impossible): bytes follow a frame that fails, which no
    // torn append produces (SPEC.md §6.1), so it is corruption.
    for l in [len - 4, len + 1, 0x8000_0000] {
        let (read, end) = read_all(&with_len(l), false);
        assert!(end.unwrap_err().is_corrupt(), "length {l}");
        assert_eq!(read.len(), batches.len() - 1);
    }
}

#[test]
fn a_long_id_round_trips_through_a_torn_neighbour() {
    let header = Header::new(1).unwrap();
    let mut batches = every_kind(1);
    if let nidus_format::Op::Upsert { id, .. } = &mut batches[1].ops[2] {
        *id = "x".repeat(100_000);
    }
    let (bytes, _) = image(&header, &batches);
    let (read, end) = read_all(&bytes[..bytes.len() - 1], false);
    assert!(matches!(end.unwrap(), End::TornTail { dropped, .. } if dropped > 0));
    assert!(same(&header, &read, &batches[..batches.len() - 1]));
}

#[test]
fn a_tail_of_zero_bytes_is_a_torn_tail() {
    // The file size reached the medium before the data (SPEC.md §6.1).
    let (_, batches, bytes, _) = sample();
    for zeros in [1, 3, 4, 11, 12, 13, 20, 64, 4096, 4096 * 3 + 5] {
        let mut padded = bytes.clone();
        padded.resize(bytes.len() + zeros, 0);
        for known_len in [false, true] {
            let (read, end) = read_all(&padded, known_len);
            assert_eq!(
                end.unwrap(),
                End::TornTail {
                    offset: bytes.len() as u64,
                    dropped: zeros as u64
                },
                "{zeros} zeros"
            );
            assert_eq!(read.len(), batches.len());
        }
    }
}

#[test]
fn a_last_frame_whose_end_reads_as_zeros_is_a_torn_tail() {
    let (_, batches, bytes, offsets) = sample();
    let last = *offsets.last().unwrap() as usize;
    for from in last + FRAME_HEAD..bytes.len() {
        let mut damaged = bytes.clone();
        damaged[from..].fill(0);
        if damaged == bytes {
            continue;
        }
        let (read, end) = read_all(&damaged, false);
        assert!(
            matches!(end.unwrap(), End::TornTail { offset, .. } if offset == last as u64),
            "zeros from {from}"
        );
        assert_eq!(read.len(), batches.len() - 1);
    }
}

#[test]
fn one_bad_byte_anywhere_in_a_middle_frame_is_corruption_at_that_frame() {
    let (header, batches, bytes, offsets) = sample();
    // Frame 1 is a middle frame; frames 2.. follow it.
    let (start, end) = (offsets[1] as usize, offsets[2] as usize);
    for i in start..end {
        for flip in [0x01u8, 0x80, 0xff] {
            let mut damaged = bytes.clone();
            damaged[i] ^= flip;
            for known_len in [false, true] {
                let (read, outcome) = read_all(&damaged, known_len);
                let err = outcome.expect_err(&format!("byte {i} flip {flip:#x}: no error"));
                assert!(
                    matches!(err.kind(), ErrorKind::Corrupt { .. }),
                    "byte {i} flip {flip:#x}: {err}"
                );
                assert_eq!(err.offset(), Some(start as u64), "byte {i}");
                assert!(same(&header, &read, &batches[..1]), "byte {i}");
            }
        }
    }
}

#[test]
fn corruption_is_reported_by_end_and_again_on_every_call() {
    let (_, _, mut bytes, offsets) = sample();
    let at = offsets[2] as usize + FRAME_HEAD + 1;
    bytes[at] ^= 1;
    let mut reader = Reader::with_source(bytes.as_slice(), None, None).unwrap();
    let mut batch = Batch::default();
    assert!(reader.next_into(&mut batch).unwrap());
    assert!(reader.next_into(&mut batch).unwrap());
    let first = reader.next_into(&mut batch).unwrap_err();
    assert!(first.is_corrupt());
    assert!(
        first.to_string().contains(&format!("byte {}", offsets[2])),
        "{first}"
    );
    let again = reader.next_into(&mut batch).unwrap_err();
    assert_eq!(first.kind(), again.kind());
    assert!(matches!(
        reader.end(),
        Some(End::Corrupt { offset, .. }) if *offset == offsets[2]
    ));
    assert_eq!(reader.valid_end(), offsets[2]);
    // The strict iterator yields the two good batches, then the error.
    let items: Vec<_> = Reader::new(bytes.as_slice()).unwrap().collect();
    assert_eq!(items.len(), 3);
    assert!(items[2].as_ref().unwrap_err().is_corrupt());
}

#[test]
fn the_strict_iterator_reports_a_torn_tail_as_an_error() {
    let (_, batches, bytes, _) = sample();
    let cut = &bytes[..bytes.len() - 3];
    let items: Vec<_> = Reader::new(cut).unwrap().collect();
    assert_eq!(items.len(), batches.len());
    let err = items.last().unwrap().as_ref().unwrap_err();
    assert!(err.is_torn_tail(), "{err}");
    assert!(End::Clean { offset: 0 }.check().is_ok());
}

#[test]
fn zeros_followed_by_data_are_corruption() {
    let (_, _, bytes, offsets) = sample();
    let mut damaged = bytes.clone();
    let (start, end) = (offsets[1] as usize, offsets[2] as usize);
    damaged[start..end].fill(0);
    let (read, outcome) = read_all(&damaged, false);
    let err = outcome.unwrap_err();
    assert!(err.is_corrupt(), "{err}");
    assert_eq!(err.offset(), Some(start as u64));
    assert_eq!(read.len(), 1);
}

#[test]
fn a_cut_inside_the_header_is_a_torn_tail_or_not_nidus() {
    let (_, _, bytes, _) = sample();
    for cut in 0..HEADER_LEN {
        for known in [None, Some(cut as u64)] {
            let err = Reader::with_source(&bytes[..cut], None, known)
                .err()
                .unwrap();
            assert_eq!(
                err.kind(),
                &ErrorKind::TornTail {
                    dropped: cut as u64
                },
                "cut {cut}"
            );
            assert_eq!(err.offset(), Some(0));
        }
    }
    let err = Reader::new(&b"PK\x03\x04"[..]).err().unwrap();
    assert_eq!(err.kind(), &ErrorKind::NotNidus);
}

#[test]
fn a_header_only_file_is_clean_and_empty() {
    let header = Header::new(9).unwrap();
    let (read, end) = read_all(&header.encode(), true);
    assert!(read.is_empty());
    assert_eq!(
        end.unwrap(),
        End::Clean {
            offset: FRAME_START
        }
    );
}

#[test]
fn a_newer_minor_with_an_unknown_op_is_unsupported_not_corrupt() {
    let mut header = Header::new(2).unwrap();
    let (mut bytes, offsets) = image(&header, &every_kind(2)[..1]);
    // Turn op tag 1 (CreateCollection) into an unknown tag 9, re-checksum.
    let tag_at = offsets[0] as usize + FRAME_HEAD + 8;
    assert_eq!(bytes[tag_at], 1);
    bytes[tag_at] = 9;
    let sum = nidus_format::checksum(&bytes[offsets[0] as usize + 8..]);
    bytes[offsets[0] as usize..offsets[0] as usize + 8].copy_from_slice(&sum.to_le_bytes());

    let (_, outcome) = read_all(&bytes, true);
    assert!(outcome.unwrap_err().is_corrupt(), "same minor: corrupt");

    header.version.minor = 1;
    bytes[..HEADER_LEN].copy_from_slice(&header.encode());
    let (_, outcome) = read_all(&bytes, true);
    let err = outcome.unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::UnsupportedVersion { file, .. } if file.minor == 1),
        "{err}"
    );
}

#[test]
fn a_cut_inside_a_megabyte_frame_of_random_bits_is_still_a_torn_tail() {
    // Random bit patterns make every 4-aligned word a candidate length for
    // the torn-or-corrupt scan; the scan must not give up on real tails.
    let header = Header::new(256).unwrap();
    let mut rng = Rng::new(5);
    let mut big = Batch::default();
    while big.ops.len() < 1000 {
        let b = rng.batch(256, 8);
        big.ops.extend(b.ops);
        big.vectors.extend(b.vectors);
    }
    let batches = vec![every_kind(256).remove(0), big];
    let (bytes, offsets) = image(&header, &batches);
    let last = offsets[1] as usize;
    assert!(bytes.len() - last > 250_000, "{}", bytes.len() - last);
    for i in 1..40 {
        let cut = last + (bytes.len() - last) * i / 40;
        let (read, end) = read_all(&bytes[..cut], i % 2 == 0);
        assert_eq!(
            end.unwrap(),
            End::TornTail {
                offset: last as u64,
                dropped: (cut - last) as u64
            },
            "cut {cut}"
        );
        assert_eq!(read.len(), 1);
    }
}

#[test]
fn a_tail_crafted_to_exhaust_the_scan_is_reported_as_corruption() {
    // A cut-short frame whose bytes hold a frame-like candidate at every
    // fourth word, each claiming half the tail and passing the cheap
    // structure checks (one op, no rows, a non-zero op tag): checking them
    // all would be quadratic, so the scan gives up and errs on the safe
    // side.
    let header = Header::new(1).unwrap();
    let (mut bytes, _) = image(&header, &every_kind(1)[..1]);
    let at = bytes.len() as u64;
    bytes.extend_from_slice(&[0xAB; 8]);
    bytes.extend_from_slice(&(1u32 << 30).to_le_bytes());
    let words = 64 << 10;
    let half = (words * 4 / 2) as u32;
    for k in 0..words {
        let w = match k % 4 {
            0 => half,        // the length
            1 => 1,           // one op
            2 => 0,           // no rows
            _ => 0x0101_0101, // a non-zero op tag
        };
        bytes.extend_from_slice(&w.to_le_bytes());
    }
    let (read, outcome) = read_all(&bytes, true);
    let err = outcome.unwrap_err();
    assert!(err.is_corrupt(), "{err}");
    assert_eq!(err.offset(), Some(at));
    assert!(err.to_string().contains("rule out"), "{err}");
    assert_eq!(read.len(), 1);
}

#[test]
fn a_cut_inside_the_ops_of_a_big_small_dimension_frame_is_a_torn_tail() {
    // Dimension 6 and two attributes a row: the ops outweigh the vectors,
    // and their many small integers (string lengths, counts, small
    // values) look like frame lengths. The search for a frame behind the
    // cut must still rule them out rather than give up.
    use nidus_format::{Op, Value};
    let dim = 6usize;
    let header = Header::new(dim as u32).unwrap();
    let rows = 44_000usize;
    let mut rng = Rng::new(5);
    let mut ops = Vec::new();
    let mut vectors = Vec::new();
    for i in 0..rows {
        let mut attrs = nidus_format::Attributes::new();
        attrs.insert("n".into(), Value::Int(rng.below(100) as i64));
        attrs.insert(
            "tag".into(),
            Value::Str(if i % 2 == 0 { "x" } else { "y" }.into()),
        );
        ops.push(Op::Upsert {
            collection: "docs".into(),
            id: format!("huge{i}"),
            attrs,
        });
        vectors.extend((0..dim).map(|_| rng.below(1000) as f32 / 1000.0 + 0.001));
    }
    let batches = vec![rng.batch(dim as u32, 4), Batch { ops, vectors }];
    let (bytes, offsets) = image(&header, &batches);
    let last = offsets[1] as usize;
    let ops_start = last + 12 + 8 + rows * dim * 4;
    let mut cut = last + 13;
    while cut < bytes.len() {
        let (read, end) = read_all(&bytes[..cut], true);
        assert_eq!(
            end.unwrap(),
            End::TornTail {
                offset: last as u64,
                dropped: (cut - last) as u64
            },
            "cut at {cut} ({} into the ops)",
            cut as i64 - ops_start as i64
        );
        assert_eq!(read.len(), 1);
        cut += 7919;
    }
}
