//! The content rules (SPEC.md §5.6) through the reader: off by default, and
//! when enforced a bad row under a valid checksum is corruption at its
//! frame, on every read path, after the grammar has had its say.

use nidus_format::{
    Attributes, Batch, End, FRAME_HEADER_LEN, FormatErrorKind, Frame, HEADER_LEN, Header, Op,
    Reader, RowFault, VectorFault, checksum, encode_frame,
};

const DIM: u32 = 3;

fn upserts(rows: &[[f32; 3]]) -> Batch {
    Batch {
        ops: (0..rows.len())
            .map(|i| Op::Upsert {
                collection: "c".into(),
                id: format!("id{i}"),
                attrs: Attributes::new(),
            })
            .collect(),
        vectors: rows.iter().flatten().copied().collect(),
    }
}

/// A file of three unit-vector batches; returns it and the frame offsets
/// (the last entry is the file's length).
fn file() -> (Vec<u8>, Vec<usize>) {
    let header = Header::new(DIM).unwrap();
    let mut bytes = header.encode().to_vec();
    let mut ends = vec![HEADER_LEN];
    for batch in [
        upserts(&[[0.6, 0.8, 0.0], [1.0, 0.0, 0.0]]),
        upserts(&[[0.0, -0.6, 0.8], [0.0, 0.0, -1.0], [0.8, 0.0, 0.6]]),
        upserts(&[[0.0, 1.0, 0.0]]),
    ] {
        encode_frame(&batch, &header, &mut bytes).unwrap();
        ends.push(bytes.len());
    }
    (bytes, ends)
}

/// Sets component `i` of row `row` of the frame at `at` and re-seals the
/// frame's checksum.
fn set_component(bytes: &mut [u8], at: usize, row: usize, i: usize, v: f32) {
    let cell = at + FRAME_HEADER_LEN + 8 + (row * DIM as usize + i) * 4;
    bytes[cell..cell + 4].copy_from_slice(&v.to_le_bytes());
    reseal(bytes, at);
}

fn reseal(bytes: &mut [u8], at: usize) {
    let len = u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
    let sum = checksum(&bytes[at + 8..at + FRAME_HEADER_LEN + len]);
    bytes[at..at + 8].copy_from_slice(&sum.to_le_bytes());
}

fn enforcing(bytes: &[u8]) -> Reader<&[u8]> {
    Reader::with_source(bytes, None, Some(bytes.len() as u64))
        .unwrap()
        .enforce_content_rules()
}

#[test]
fn a_resealed_nan_row_is_corrupt_at_its_frame_on_every_read_path() {
    let (mut bytes, ends) = file();
    set_component(&mut bytes, ends[1], 1, 2, f32::NAN);
    let want = |e: &nidus_format::FormatError| {
        assert_eq!(e.offset(), Some(ends[1] as u64), "{e}");
        let FormatErrorKind::Corrupt { reason } = e.kind() else {
            panic!("not corrupt: {e}")
        };
        let row_at = ends[1] + FRAME_HEADER_LEN + 8 + DIM as usize * 4;
        assert!(
            reason.contains("vector row 1 (upsert 1 of the batch)")
                && reason.contains("component 2 is not finite")
                && reason.contains(&format!("at byte {row_at}")),
            "{reason}"
        );
    };

    // next_into
    let mut r = enforcing(&bytes);
    let mut batch = Batch::default();
    assert!(r.next_into(&mut batch).unwrap());
    want(&r.next_into(&mut batch).unwrap_err());
    assert_eq!(r.valid_end(), ends[1] as u64);
    assert!(matches!(r.end(), Some(End::Corrupt { offset, .. }) if *offset == ends[1] as u64));
    // Later calls replay the refusal; nothing after the frame is read.
    want(&r.next_into(&mut batch).unwrap_err());

    // next_ref
    let mut r = enforcing(&bytes);
    assert!(r.next_ref().unwrap().is_some());
    want(&r.next_ref().unwrap_err());

    // next_frame_into
    let mut r = enforcing(&bytes);
    let mut frame = Frame::new();
    assert!(r.next_frame_into(&mut frame).unwrap());
    want(&r.next_frame_into(&mut frame).unwrap_err());
    assert!(frame.batch().is_none());

    // The iterator ends on the same error.
    let last = enforcing(&bytes).last().unwrap().unwrap_err();
    want(&last);
}

#[test]
fn without_the_rules_the_reader_serves_any_floats_and_the_view_can_check_them() {
    let (mut bytes, ends) = file();
    set_component(&mut bytes, ends[2], 0, 0, f32::INFINITY);
    let mut r = Reader::new(bytes.as_slice()).unwrap();
    assert!(!r.content_rules());
    let mut faults = Vec::new();
    while let Some(view) = r.next_ref().unwrap() {
        faults.push(view.check_content());
    }
    assert_eq!(
        faults,
        [
            Ok(()),
            Ok(()),
            Err(RowFault {
                row: 0,
                fault: VectorFault::NonFinite { index: 0 }
            })
        ]
    );
    assert_eq!(
        r.end(),
        Some(&End::Clean {
            offset: bytes.len() as u64
        })
    );
}

#[test]
fn scaled_zero_and_slightly_long_rows_are_refused_and_unit_rows_pass() {
    let (bytes, ends) = file();
    let mut r = enforcing(&bytes);
    while r.next_ref().unwrap().is_some() {}
    assert_eq!(
        r.end(),
        Some(&End::Clean {
            offset: bytes.len() as u64
        })
    );

    for (row, values, says) in [
        (0, [6.0f32, 8.0, 0.0], "sum of squares is 1e2"),
        (1, [0.0, 0.0, 0.0], "zero vector"),
        (2, [0.8, 0.0, 0.600001], "not 1 within"),
        (0, [1e20, 0.0, 0.0], "e40, not 1 within"),
    ] {
        let mut bad = bytes.clone();
        for (i, v) in values.into_iter().enumerate() {
            set_component(&mut bad, ends[1], row, i, v);
        }
        let e = enforcing(&bad).last().unwrap().unwrap_err();
        assert_eq!(e.offset(), Some(ends[1] as u64));
        let text = e.to_string();
        assert!(
            text.contains(&format!("vector row {row} ")) && text.contains(says),
            "{text}"
        );
    }
}

#[test]
fn the_grammar_is_judged_before_the_content() {
    // A row_count one too high under a valid checksum: the block then runs
    // into the ops, which are no unit vector, but the message is about the
    // count, not about a row.
    let (mut bytes, ends) = file();
    let at = ends[1];
    bytes[at + 16..at + 20].copy_from_slice(&4u32.to_le_bytes());
    reseal(&mut bytes, at);
    let e = enforcing(&bytes).last().unwrap().unwrap_err();
    assert_eq!(e.offset(), Some(at as u64));
    assert!(!e.to_string().contains("vector row"), "{e}");
}

#[test]
fn a_damaged_checksum_is_reported_as_such_even_over_a_bad_row() {
    let (mut bytes, ends) = file();
    set_component(&mut bytes, ends[1], 0, 0, f32::NAN);
    bytes[ends[1]] ^= 1;
    let e = enforcing(&bytes).last().unwrap().unwrap_err();
    assert_eq!(e.offset(), Some(ends[1] as u64));
    assert!(e.to_string().contains("checksum mismatch"), "{e}");
}

#[test]
fn big_frames_are_checked_across_the_pieces_of_the_checksum_pass() {
    // 3,000 rows of 384: the check runs in pieces of about 32 KiB; a bad
    // row in a late piece is still named by its index in the batch.
    let dim = 384u32;
    let header = Header::new(dim).unwrap();
    let rows = 3_000;
    let unit = 1.0 / (dim as f32).sqrt();
    let mut batch = Batch {
        ops: (0..rows)
            .map(|i| Op::Upsert {
                collection: "c".into(),
                id: format!("{i}"),
                attrs: Attributes::new(),
            })
            .collect(),
        vectors: vec![unit; rows * dim as usize],
    };
    let mut bytes = header.encode().to_vec();
    encode_frame(&batch, &header, &mut bytes).unwrap();
    let mut r = Reader::new(bytes.as_slice())
        .unwrap()
        .enforce_content_rules();
    assert!(r.next_ref().unwrap().is_some());
    assert_eq!(r.next_ref().unwrap().map(|_| ()), None);

    batch.vectors[2_999 * dim as usize + 383] = -f32::INFINITY;
    let mut bytes = header.encode().to_vec();
    encode_frame(&batch, &header, &mut bytes).unwrap();
    let e = Reader::new(bytes.as_slice())
        .unwrap()
        .enforce_content_rules()
        .last()
        .unwrap()
        .unwrap_err();
    assert_eq!(e.offset(), Some(HEADER_LEN as u64));
    assert!(
        e.to_string().contains(
            "vector row 2999 (upsert 2999 of the batch) breaks the content rules: component 383"
        ),
        "{e}"
    );
}
