//! `nidus import`: each format, bad input without damage, a killed
//! import, and JSONL collection keys.

use std::path::Path;

use nidus_cli::db::Db;
use nidus_cli::formats::Format;

use crate::common::{
    fails, int, line, ok, records, records_quiet, rows, s, small_jsonl, small_store, spawn_import,
    stats, write_file, write_jsonl,
};

#[test]
fn import_each_format() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("st");
    let out = ok(&["import", s(&store), s(&small_jsonl(dir.path()))]);
    assert!(out.starts_with("imported 5 rows into "), "{out}");
    let st = stats(&store);
    assert_eq!(int(st.get("dimension")), 3);
    assert_eq!(int(st.get("records")), 5);
    assert_eq!(int(st.get("dead")), 0);
    assert!(int(st.get("file_bytes")) > 0);
    assert_eq!(int(st.get("collections").unwrap().get("default")), 5);

    let data = rows(7, 3, 1);
    let npy = dir.path().join("m.npy");
    write_file(&npy, Format::Npy, &data);
    ok(&["import", s(&store), s(&npy), "--collection", "n"]);
    let fv = dir.path().join("m.bin");
    write_file(&fv, Format::Fvecs, &data);
    ok(&[
        "import",
        s(&store),
        s(&fv),
        "--collection",
        "f",
        "--format",
        "fvecs",
        "--batch",
        "2",
    ]);
    let st = stats(&store);
    assert_eq!(int(st.get("records")), 19);
    assert_eq!(int(st.get("collections").unwrap().get("n")), 7);
    assert_eq!(int(st.get("collections").unwrap().get("f")), 7);

    // npy and fvecs rows are "0", "1", ...; both hold the same vectors.
    let n6 = ok(&["get", s(&store), "6", "--collection", "n"]);
    let f6 = ok(&["get", s(&store), "6", "--collection", "f"]);
    assert_eq!(n6.replace("\"n\"", "\"f\""), f6);
    // A new store takes its dimension from npy data too.
    let other = dir.path().join("st2");
    ok(&["import", s(&other), s(&npy)]);
    assert_eq!(int(stats(&other).get("dimension")), 3);

    // The readable stats table.
    let table = ok(&["stats", s(&store)]);
    assert!(
        table.contains("dimension") && table.contains("19"),
        "{table}"
    );
}

/// Imports `file` into `store`, expects failure, and checks the store kept
/// exactly `records` records and verifies intact.
#[track_caller]
fn import_fails(store: &Path, file: &Path, extra: &[&str], records_after: i64) -> String {
    let mut args = vec!["import", s(store), s(file)];
    args.extend_from_slice(extra);
    let err = fails(&args);
    if Db::exists(store) {
        assert_eq!(records(store), records_after, "{err}");
        ok(&["verify", s(store)]);
    }
    err
}

#[test]
fn bad_input_fails_clearly_without_damage() {
    let dir = tempfile::tempdir().unwrap();
    let store = small_store(dir.path());
    let good = |case: usize, i: usize| line(&format!("g{case}-{i}"), &[1.0, i as f32, 0.5], "{}");
    let write = |name: &str, text: String| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };

    // A bad line stops the import; the whole batches before it stay.
    let cases = [
        (
            "{\"id\": \"x\", \"vector\": [1, 2",
            "line 5, column 28: expected ',' or ']'",
        ),
        (
            "{\"id\": \"x\", \"vector\": [1, 2, 3, 4]}",
            "line 5: \"vector\" has 4 values, the earlier lines have 3",
        ),
        (
            "{\"id\": \"x\", \"vector\": [1, NaN, 3]}",
            "line 5, column 27: NaN is not a JSON number",
        ),
        ("{\"id\": \"x\", \"vector\": [0, 0, 0]}", "zero vector"),
        ("{\"vector\": [1, 2, 3]}", "line 5: no \"id\" key"),
        (
            "{\"id\": \"\", \"vector\": [1, 2, 3]}",
            "line 5: the id is empty",
        ),
        ("not json", "line 5, column 1: expected '{'"),
    ];
    for (case, (bad, expected)) in cases.into_iter().enumerate() {
        let text = (0..4).map(|i| good(case, i)).collect::<String>() + bad + "\n" + &good(case, 9);
        let file = write("bad.jsonl", text);
        let before = records(&store);
        let err = import_fails(&store, &file, &["--batch", "2"], before + 4);
        assert!(err.contains(expected), "{bad}: {err}");
        assert!(err.contains("bad.jsonl"), "{err}");
        assert!(
            err.contains("the 4 rows before the error are stored"),
            "{err}"
        );
    }

    // A file of another dimension is refused before anything is written.
    let before = records(&store);
    let file = write("wide.jsonl", line("w", &[1.0, 2.0, 3.0, 4.0], "{}"));
    let err = import_fails(&store, &file, &[], before);
    assert!(
        err.contains("dimension 4") && err.contains("dimension 3"),
        "{err}"
    );

    // NaN in binary formats names the row.
    let mut nan = rows(3, 3, 5);
    nan[2][1] = f32::NAN;
    for format in [Format::Npy, Format::Fvecs] {
        let file = dir.path().join(format!("nan.{format}"));
        write_file(&file, format, &nan);
        let err = import_fails(&store, &file, &[], before);
        assert!(err.contains("row 2: component 1 is NaN"), "{format}: {err}");
    }

    // Truncated npy and fvecs files import nothing.
    let data = rows(10, 3, 6);
    for format in [Format::Npy, Format::Fvecs] {
        let file = dir.path().join(format!("cut.{format}"));
        write_file(&file, format, &data);
        let full = std::fs::read(&file).unwrap();
        for cut in [1, 6, 40] {
            std::fs::write(&file, &full[..full.len() - cut]).unwrap();
            let err = import_fails(&store, &file, &["--batch", "3"], before);
            assert!(err.contains("truncated"), "{format} -{cut}: {err}");
        }
        std::fs::write(&file, &full[..3]).unwrap();
        let err = import_fails(&store, &file, &[], before);
        assert!(err.contains("npy") || err.contains("fvecs"), "{err}");
    }
    // A new store is not created from a file that fails.
    let fresh = dir.path().join("fresh");
    let file = write(
        "first-bad.jsonl",
        "{\"id\": \"a\", \"vector\": [1, NaN]}\n".into(),
    );
    import_fails(&fresh, &file, &[], 0);
    assert!(!Db::exists(&fresh));
}

#[test]
fn a_killed_import_leaves_whole_batches() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("st");
    let big = dir.path().join("big.jsonl");
    write_jsonl(&big, &rows(20_000, 4, 12), "k", "{}");
    let mut child = spawn_import(&store, &big, "250");
    // Wait for the first batches, then SIGKILL mid-import.
    let start = std::time::Instant::now();
    while !Db::exists(&store) || records_quiet(&store) < 500 {
        if child.try_wait().unwrap().is_some() || start.elapsed().as_secs() > 20 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let n = records(&store);
    assert!(n > 0 && n % 250 == 0, "{n} records: not whole batches");
    // A writable open (delete of nothing) cuts any torn tail; then intact.
    ok(&["delete", s(&store), "no-such-id"]);
    ok(&["verify", s(&store)]);
    assert_eq!(records(&store), n);
}

#[test]
fn jsonl_collection_keys_route_rows() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("st");
    let file = dir.path().join("c.jsonl");
    let mut text = String::new();
    for (id, c) in [("a", "x"), ("b", "x"), ("c", "y")] {
        text.push_str(&format!(
            "{{\"id\": \"{id}\", \"collection\": \"{c}\", \"vector\": [1, 2]}}\n"
        ));
    }
    text.push_str("{\"id\": \"d\", \"vector\": [2, 1]}\n");
    std::fs::write(&file, &text).unwrap();
    ok(&["import", s(&store), s(&file)]);
    let st = stats(&store);
    let cols = st.get("collections").unwrap();
    assert_eq!(
        (
            int(cols.get("x")),
            int(cols.get("y")),
            int(cols.get("default"))
        ),
        (2, 1, 1)
    );
    // --collection overrides the keys.
    ok(&["import", s(&store), s(&file), "--collection", "all"]);
    assert_eq!(int(stats(&store).get("collections").unwrap().get("all")), 4);
    // A run that the store refuses (an empty collection name) stops the
    // import; the run before it in the same batch is stored and counted.
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(
        &bad,
        "{\"id\": \"e\", \"collection\": \"z\", \"vector\": [1, 1]}\n\
         {\"id\": \"f\", \"collection\": \"\", \"vector\": [1, 1]}\n",
    )
    .unwrap();
    let err = fails(&["import", s(&store), s(&bad)]);
    assert!(
        err.contains("the 1 rows before the error are stored"),
        "{err}"
    );
    assert!(err.contains("line 2"), "{err}");
    ok(&["get", s(&store), "e", "--collection", "z"]);
}
