//! Round trips of every payload kind and value type; deterministic bytes.

use nidus_format::{
    Appender, Attributes, Batch, End, ErrorKind, HEADER_LEN, Header, MAX_DIMENSION, Op, Reader,
    Value, encode_frame,
};

use crate::common::{RandomBatches, Rng, every_kind, image, read_all, same};

#[test]
fn every_op_and_value_kind_round_trips_bit_for_bit() {
    for dim in [1, 5, 384] {
        let header = Header::new(dim).unwrap();
        let batches = every_kind(dim);
        let (bytes, _) = image(&header, &batches);
        for known_len in [false, true] {
            let (read, end) = read_all(&bytes, known_len);
            assert_eq!(
                end.unwrap(),
                End::Clean {
                    offset: bytes.len() as u64
                }
            );
            assert!(same(&header, &read, &batches), "dim {dim}");
            // PartialEq agrees wherever NaN is absent.
            assert_eq!(read[0], batches[0]);
            assert_eq!(read[2], batches[2]);
        }
    }
}

#[test]
fn nan_payloads_and_negative_zero_survive() {
    let header = Header::new(5).unwrap();
    let batches = every_kind(5);
    let (bytes, _) = image(&header, &batches);
    let (read, _) = read_all(&bytes, true);
    let Op::Upsert { attrs, .. } = &read[1].ops[0] else {
        panic!("expected an upsert")
    };
    let Some(Value::Float(nan)) = attrs.get("f_nan") else {
        panic!("f_nan missing")
    };
    assert_eq!(nan.to_bits(), 0x7ff8_dead_beef_0001);
    let Some(Value::Float(z)) = attrs.get("f_neg_zero") else {
        panic!("f_neg_zero missing")
    };
    assert!(z.is_sign_negative());
    assert_eq!(attrs.get("null"), Some(&Value::Null));
    assert!(attrs.get("absent").is_none(), "absent stays absent");
    assert!(read[1].vectors[5].is_nan());
    assert!(read[1].vectors[6].is_sign_negative());
}

#[test]
fn the_largest_dimension_round_trips() {
    let header = Header::new(MAX_DIMENSION).unwrap();
    let batch = Batch {
        ops: vec![Op::Upsert {
            collection: "c".into(),
            id: "x".into(),
            attrs: Attributes::new(),
        }],
        vectors: (0..MAX_DIMENSION).map(|i| i as f32).collect(),
    };
    let (bytes, _) = image(&header, std::slice::from_ref(&batch));
    let (read, end) = read_all(&bytes, false);
    assert!(matches!(end.unwrap(), End::Clean { .. }));
    assert_eq!(read, vec![batch]);
}

#[test]
fn random_batches_round_trip_and_encode_deterministically() {
    let mut rng = Rng::new(7);
    for case in 0..200 {
        let dim = 1 + rng.below(9) as u32;
        let header = Header::new(dim).unwrap();
        let batches: Vec<Batch> = (0..1 + rng.below(4)).map(|_| rng.batch(dim, 6)).collect();
        let (bytes, _) = image(&header, &batches);
        let (again, _) = image(&header, &batches.clone());
        assert_eq!(bytes, again, "case {case}: same batches, same bytes");
        let (read, end) = read_all(&bytes, case % 2 == 0);
        assert!(matches!(end.unwrap(), End::Clean { .. }), "case {case}");
        assert!(same(&header, &read, &batches), "case {case}");
        // Re-encoding what was read gives the file back byte for byte.
        assert_eq!(image(&header, &read).0, bytes, "case {case}");
    }
}

#[test]
fn frames_are_four_byte_aligned_and_exactly_laid_out() {
    let header = Header::new(2).unwrap();
    let mut attrs = Attributes::new();
    attrs.insert("k".into(), Value::Int(-2));
    let batch = Batch {
        ops: vec![Op::Upsert {
            collection: "c".into(),
            id: "id".into(),
            attrs,
        }],
        vectors: vec![1.0, -2.5],
    };
    let mut frame = Vec::new();
    encode_frame(&batch, &header, &mut frame).unwrap();
    // The worked example of SPEC.md §5.4, byte for byte.
    #[rustfmt::skip]
    let payload: &[u8] = &[
        1, 0, 0, 0,                 // op count
        1, 0, 0, 0,                 // row count
        0x00, 0x00, 0x80, 0x3f,     // 1.0f32
        0x00, 0x00, 0x20, 0xc0,     // -2.5f32
        4,                          // Upsert
        1, 0, 0, 0, b'c',           // collection "c"
        2, 0, 0, 0, b'i', b'd',     // id "id"
        1, 0, 0, 0,                 // one attribute
        1, 0, 0, 0, b'k',           // name "k"
        4, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // Int(-2)
        0, 0,                       // padding to a multiple of 4
    ];
    assert_eq!(&frame[12..], payload);
    assert_eq!(&frame[8..12], &(payload.len() as u32).to_le_bytes());
    let sum = nidus_format::checksum(&frame[8..]);
    assert_eq!(&frame[..8], &sum.to_le_bytes());
    // The checksum SPEC.md §5.4 prints, computed with the reference library.
    assert_eq!(
        &frame[..8],
        &[0xBD, 0xB7, 0x77, 0x3A, 0xBD, 0x68, 0xC9, 0xAB]
    );
    assert_eq!(frame.len() % 4, 0);
    // The header example of SPEC.md §3.
    #[rustfmt::skip]
    let head: [u8; 32] = [
        0x89, 0x4E, 0x49, 0x44, 0x55, 0x53, 0x0D, 0x0A, 1, 0, 0, 0, 2, 0, 0, 0,
        1, 0, 0, 0, 0, 0, 0, 0, 0xDC, 0x52, 0x1B, 0x1D, 0xFE, 0x14, 0x24, 0x10,
    ];
    assert_eq!(header.encode(), head);
}

#[test]
fn encoder_refuses_mismatched_rows_and_leaves_output_untouched() {
    let header = Header::new(3).unwrap();
    let mut out = vec![9u8; 5];
    let batch = Batch {
        ops: vec![Op::Upsert {
            collection: "c".into(),
            id: "a".into(),
            attrs: Attributes::new(),
        }],
        vectors: vec![1.0, 2.0],
    };
    let err = encode_frame(&batch, &header, &mut out).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::InvalidInput { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("3"), "{err}");
    assert_eq!(out, vec![9u8; 5]);
    let stray = Batch {
        ops: vec![],
        vectors: vec![1.0, 2.0, 3.0],
    };
    assert!(encode_frame(&stray, &header, &mut out).is_err());
    assert_eq!(out, vec![9u8; 5]);
}

#[test]
fn next_into_reuses_the_callers_batch() {
    let header = Header::new(4).unwrap();
    let mut rng = Rng::new(3);
    let batches: Vec<Batch> = (0..5).map(|_| rng.batch(4, 8)).collect();
    let (bytes, _) = image(&header, &batches);
    let mut reader = Reader::new(bytes.as_slice()).unwrap();
    let mut batch = Batch {
        ops: vec![Op::DropCollection {
            name: "stale".into(),
        }],
        vectors: vec![0.0; 1000],
    };
    let mut n = 0;
    while reader.next_into(&mut batch).unwrap() {
        assert!(same(&header, std::slice::from_ref(&batch), &batches[n..=n]));
        n += 1;
    }
    assert_eq!(n, 5);
    assert!(batch.vectors.capacity() >= 1000, "capacity kept");
}

#[test]
fn iterator_yields_batches_then_stops_on_a_clean_file() {
    let header = Header::new(2).unwrap();
    let batches = every_kind(2);
    let (bytes, _) = image(&header, &batches);
    let read: Result<Vec<Batch>, _> = Reader::new(bytes.as_slice()).unwrap().collect();
    assert!(same(&header, &read.unwrap(), &batches));
}

#[test]
fn appender_over_a_vec_builds_the_same_image() {
    let header = Header::new(5).unwrap();
    let batches = every_kind(5);
    let mut file = header.encode().to_vec();
    let mut app = Appender::new(&mut file, header, HEADER_LEN as u64);
    let mut offsets = Vec::new();
    for b in &batches {
        offsets.push(app.append(b).unwrap());
    }
    let end = app.end();
    assert_eq!(end, file.len() as u64);
    let (expected, expected_offsets) = image(&header, &batches);
    assert_eq!(file, expected);
    assert_eq!(offsets, expected_offsets);
}

#[test]
fn borrowed_views_agree_with_owned_decoding() {
    use nidus_format::{OpRef, ValueRef};
    let mut rng = Rng::new(99);
    for case in 0..100 {
        let dim = 1 + rng.below(6) as u32;
        let header = Header::new(dim).unwrap();
        let mut batches: Vec<Batch> = (0..1 + rng.below(4)).map(|_| rng.batch(dim, 8)).collect();
        if case == 0 {
            batches = every_kind(dim);
        }
        let (bytes, _) = image(&header, &batches);
        let mut reader = Reader::new(bytes.as_slice()).unwrap();
        let mut arena = vec![7.0f32];
        let mut n = 0;
        while let Some(view) = reader.next_ref().unwrap() {
            let want = &batches[n];
            assert_eq!(view.op_count(), want.ops.len());
            assert_eq!(view.row_count(), want.upsert_count());
            assert_eq!(view.dimension(), dim as usize);
            assert_eq!(view.vector_bytes().len(), want.vectors.len() * 4);
            let mut owned = Batch::default();
            view.to_batch(&mut owned);
            assert!(
                same(&header, &[owned], std::slice::from_ref(want)),
                "case {case}"
            );
            let before = arena.len();
            view.append_vectors_to(&mut arena);
            let got: Vec<u32> = arena[before..].iter().map(|f| f.to_bits()).collect();
            let exp: Vec<u32> = want.vectors.iter().map(|f| f.to_bits()).collect();
            assert_eq!(got, exp);
            for (op, want_op) in view.ops().zip(&want.ops) {
                if let (
                    OpRef::Upsert { attrs, id, .. },
                    Op::Upsert {
                        attrs: wa, id: wid, ..
                    },
                ) = (op, want_op)
                {
                    assert_eq!(id, wid);
                    assert_eq!(attrs.len(), wa.len());
                    assert_eq!(attrs.is_empty(), wa.is_empty());
                    for (name, value) in wa {
                        let got = attrs.get(name).expect("attribute present");
                        assert_eq!(format!("{:?}", got.to_value()), format!("{value:?}"));
                        if let (ValueRef::List(l), Value::List(w)) = (got, value) {
                            assert_eq!(l.len(), w.len());
                            assert_eq!(l.iter().collect::<Vec<_>>(), *w);
                        }
                    }
                    assert!(attrs.get("\u{10FFFF}-absent").is_none());
                }
                let _ = format!("{op:?}");
            }
            let _ = format!("{view:?}");
            n += 1;
        }
        assert_eq!(n, batches.len());
        assert_eq!(arena[0], 7.0, "appends, never replaces");
        assert!(matches!(reader.end(), Some(End::Clean { .. })));
    }
}

#[test]
#[ignore = "allocates 2 GiB; run with cargo test --release -- --ignored"]
fn a_batch_over_the_frame_limit_is_refused_whole() {
    let header = Header::new(1).unwrap();
    let name = "x".repeat(nidus_format::MAX_PAYLOAD_LEN as usize);
    let batch = Batch {
        ops: vec![Op::CreateCollection { name }],
        vectors: vec![],
    };
    let mut out = vec![1, 2, 3];
    let err = encode_frame(&batch, &header, &mut out).unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::InvalidInput { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("frame limit"), "{err}");
    assert_eq!(out, vec![1, 2, 3]);
}

#[test]
fn owned_frames_lend_the_batches_borrowed_views_lend() {
    let mut rng = Rng::new(7);
    for case in 0..60 {
        let dim = 1 + rng.below(6) as u32;
        let header = Header::new(dim).unwrap();
        let mut batches: Vec<Batch> = (0..1 + rng.below(5)).map(|_| rng.batch(dim, 8)).collect();
        if case == 0 {
            batches = every_kind(dim);
        }
        let (mut bytes, offsets) = image(&header, &batches);
        // Every third image loses the second half of its last frame.
        if case % 3 == 2 {
            let last = *offsets.last().unwrap() as usize;
            bytes.truncate(last + (bytes.len() - last) / 2);
        }
        let mut by_ref = Reader::new(bytes.as_slice()).unwrap();
        let mut by_frame = Reader::new(bytes.as_slice()).unwrap();
        let mut frames = [nidus_format::Frame::new(), nidus_format::Frame::new()];
        let mut n = 0;
        loop {
            let want = by_ref.next_ref().unwrap();
            let frame = &mut frames[n % 2];
            let more = by_frame.next_frame_into(frame).unwrap();
            assert_eq!(more, want.is_some(), "case {case}, batch {n}");
            let (Some(want), Some(got)) = (want, frame.batch()) else {
                assert!(frame.batch().is_none(), "case {case}");
                break;
            };
            let (mut a, mut b) = (Batch::default(), Batch::default());
            want.to_batch(&mut a);
            got.to_batch(&mut b);
            assert!(same(&header, &[a], &[b]), "case {case}, batch {n}");
            assert_eq!(got.vector_bytes(), want.vector_bytes());
            assert_eq!(by_frame.valid_end(), by_ref.valid_end());
            n += 1;
        }
        assert_eq!(by_frame.end(), by_ref.end(), "case {case}");
        assert_eq!(n, batches.len() - usize::from(case % 3 == 2), "case {case}");
    }
}
