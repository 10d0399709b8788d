//! The golden file of format version 1.0 (SPEC.md §8), checked in at
//! tests/data/v1.0.nidus. Every later version must still read it to the
//! same batches. Regenerate only when creating it for the first time:
//! `cargo test -p nidus-format --test format -- --ignored write_golden_v1`.

use std::path::PathBuf;

use nidus_format::{Attributes, Batch, End, Header, Op, Reader, Value, Version};

fn golden_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/v1.0.nidus")
}

/// The content of the golden file, frozen: never edit (write a new golden
/// file for a new version instead).
fn golden_batches() -> Vec<Batch> {
    let mut attrs = Attributes::new();
    attrs.insert("absent_is_not_null".into(), Value::Null);
    attrs.insert("draft".into(), Value::Bool(true));
    attrs.insert("published".into(), Value::Bool(false));
    attrs.insert("page".into(), Value::Int(-42));
    attrs.insert("big".into(), Value::Int(i64::MAX));
    attrs.insert("score".into(), Value::Float(0.125));
    attrs.insert("title".into(), Value::Str("Nidus: a nest 🪺".into()));
    attrs.insert(
        "tags".into(),
        Value::List(vec!["a".into(), String::new(), "ß".into()]),
    );
    attrs.insert("none".into(), Value::List(vec![]));
    vec![
        Batch {
            ops: vec![Op::CreateCollection {
                name: "docs".into(),
            }],
            vectors: vec![],
        },
        Batch {
            ops: vec![
                Op::Upsert {
                    collection: "docs".into(),
                    id: "doc-1".into(),
                    attrs,
                },
                Op::Upsert {
                    collection: "docs".into(),
                    id: String::new(),
                    attrs: Attributes::new(),
                },
            ],
            vectors: vec![1.0, -0.5, 0.25, 3.5, 0.0, -0.0, f32::MAX, f32::MIN_POSITIVE],
        },
        Batch {
            ops: vec![
                Op::SetMetadata {
                    collection: "docs".into(),
                    key: "model".into(),
                    value: Some("bge-small".into()),
                },
                Op::SetMetadata {
                    collection: "docs".into(),
                    key: "gone".into(),
                    value: None,
                },
                Op::Delete {
                    collection: "docs".into(),
                    id: "doc-0".into(),
                },
                Op::DropCollection { name: "tmp".into() },
            ],
            vectors: vec![],
        },
        Batch::default(),
    ]
}

#[test]
#[ignore = "writes the golden file; run once, when a format version is created"]
fn write_golden_v1() {
    // Never overwrites: `cargo test -- --ignored` runs this too, and a
    // later library must not replace the 1.0 bytes with its own.
    let path = golden_path();
    if path.exists() {
        eprintln!("{} exists; left as it is", path.display());
        return;
    }
    let header = Header::new(4).unwrap();
    let (bytes, _) = crate::common::image(&header, &golden_batches());
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn golden_v1_reads_to_the_same_batches() {
    let path = golden_path();
    let mut reader = Reader::open(&path).unwrap();
    assert_eq!(reader.header().version, Version { major: 1, minor: 0 });
    assert_eq!(reader.header().dimension, 4);
    let mut read = Vec::new();
    let mut batch = Batch::default();
    while reader.next_into(&mut batch).unwrap() {
        read.push(batch.clone());
    }
    let len = std::fs::metadata(&path).unwrap().len();
    assert_eq!(reader.end(), Some(&End::Clean { offset: len }));
    assert_eq!(read, golden_batches());
}

#[test]
fn golden_v1_bytes_are_what_this_version_writes() {
    // Holds while the library writes version 1.0 (deterministic encoding);
    // a later version drops this test and keeps the one above.
    let header = Header::new(4).unwrap();
    let (bytes, _) = crate::common::image(&header, &golden_batches());
    assert_eq!(std::fs::read(golden_path()).unwrap(), bytes);
}
