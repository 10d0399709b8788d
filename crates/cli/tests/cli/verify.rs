//! `nidus verify` on intact, torn and corrupt stores.

use std::path::{Path, PathBuf};

use nidus_cli::formats::Format;
use nidus_format::{Appender, Attributes, Batch, HEADER_LEN, Header, Op};

use crate::common::{
    exit_stderr, expect_code, fails, nidus, ok, records, rows, s, stdout, write_file,
};

/// Writes a store directory with `batches` batches of 2 records each
/// (dimension 3) through the format crate; returns the data file's path and
/// the offsets where each frame starts.
fn write_store(dir: &Path, batches: usize) -> (PathBuf, Vec<u64>) {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join(nidus_format::DATA_FILE);
    let header = Header::new(3).unwrap();
    let mut bytes = header.encode().to_vec();
    let mut starts = Vec::new();
    let mut appender = Appender::new(&mut bytes, header, HEADER_LEN as u64);
    for b in 0..batches {
        let batch = Batch {
            ops: (0..2)
                .map(|i| Op::Upsert {
                    collection: "default".into(),
                    id: format!("{b}-{i}"),
                    attrs: Attributes::new(),
                })
                .collect(),
            vectors: vec![0.6, 0.8, 0.0, 0.0, 0.6, 0.8],
        };
        starts.push(appender.end());
        appender.append(&batch).unwrap();
    }
    std::fs::write(&path, &bytes).unwrap();
    (path, starts)
}

#[test]
fn verify_intact_torn_and_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("st");
    let (data, starts) = write_store(&store, 3);
    let o = nidus(&["verify", s(&store)]);
    expect_code(&o, 0);
    assert!(stdout(&o).contains("intact (3 batches"), "{}", stdout(&o));

    // Torn: cut the last frame short.
    let full = std::fs::read(&data).unwrap();
    std::fs::write(&data, &full[..full.len() - 5]).unwrap();
    let err = exit_stderr(&["verify", s(&store)], 1);
    assert!(
        err.contains(&format!("torn tail at byte offset {}", starts[2])),
        "{err}"
    );

    // Corrupt: flip a byte inside the middle frame, with data after it.
    let mut bad = full.clone();
    let at = usize::try_from(starts[1]).unwrap() + 20;
    bad[at] ^= 0x40;
    std::fs::write(&data, &bad).unwrap();
    let err = exit_stderr(&["verify", s(&store)], 1);
    assert!(
        err.contains(&format!("corruption at byte offset {}", starts[1])),
        "{err}"
    );

    // Not a store at all.
    std::fs::write(&data, b"hello, world, this is not a nidus file at all....").unwrap();
    let err = exit_stderr(&["verify", s(&store)], 1);
    assert!(err.contains("corruption at byte offset 0"), "{err}");

    let err = exit_stderr(&["verify", s(&dir.path().join("none"))], 1);
    assert!(err.contains("no store at"), "{err}");
}

#[test]
fn verify_a_store_written_by_import() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("st");
    let file = dir.path().join("r.fvecs");
    write_file(&file, Format::Fvecs, &rows(300, 8, 4));
    ok(&["import", s(&store), s(&file), "--batch", "100"]);
    let out = ok(&["verify", s(&store)]);
    assert!(out.starts_with("ok: ") && out.contains("intact"), "{out}");
    let data = store.join(nidus_format::DATA_FILE);
    let full = std::fs::read(&data).unwrap();
    // The last batch cut short: a torn tail, at the start of that batch.
    std::fs::write(&data, &full[..full.len() - 100]).unwrap();
    let err = fails(&["verify", s(&store)]);
    assert!(err.contains("torn tail at byte offset "), "{err}");
    // Readers still see the two whole batches.
    assert_eq!(records(&store), 200);
    // A flipped byte in the first batch, with more after it: corruption.
    let mut bad = full.clone();
    bad[HEADER_LEN + 50] ^= 1;
    std::fs::write(&data, &bad).unwrap();
    let err = fails(&["verify", s(&store)]);
    assert!(
        err.contains(&format!("corruption at byte offset {HEADER_LEN}")),
        "{err}"
    );
    // Search refuses a corrupt store (with the offset) rather than guess.
    let err = fails(&["search", s(&store), "--vector", "[1,2,3,4,5,6,7,8]"]);
    assert!(err.contains(&HEADER_LEN.to_string()), "{err}");
}
