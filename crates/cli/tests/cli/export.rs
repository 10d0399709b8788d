//! `nidus export`, and the export-then-import round trip.

use nidus_cli::formats::Format;

use crate::common::{fails, line, ok, rows, s, small_jsonl, stats, write_file};

#[test]
fn export_then_import_is_bit_exact() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a");
    // Awkward values: tiny, huge, negative zero, many digits.
    let text = small_jsonl(dir.path());
    let odd = dir.path().join("odd.jsonl");
    std::fs::write(
        &odd,
        line(
            "z",
            &[1e-30, -0.0, 3.4e38],
            r#"{"f": 2.0, "i": -7, "s": "q\"\n\u00e9", "l": []}"#,
        ) + &line("w", &[0.1, 0.2, 0.3], "{}"),
    )
    .unwrap();
    ok(&["import", s(&a), s(&text)]);
    ok(&["import", s(&a), s(&odd), "--collection", "odd"]);
    let data = rows(50, 3, 9);
    let npy = dir.path().join("m.npy");
    write_file(&npy, Format::Npy, &data);
    ok(&["import", s(&a), s(&npy), "--collection", "m"]);

    // JSONL: every collection, ids, attrs, vectors.
    let first = dir.path().join("first.jsonl");
    let out = ok(&["export", s(&a), s(&first)]);
    assert_eq!(out, format!("exported 57 rows to {}\n", s(&first)));
    let b = dir.path().join("b");
    ok(&["import", s(&b), s(&first)]);
    let second = dir.path().join("second.jsonl");
    ok(&["export", s(&b), s(&second)]);
    let (x, y) = (
        std::fs::read(&first).unwrap(),
        std::fs::read(&second).unwrap(),
    );
    assert!(x == y, "JSONL export of the re-imported store differs");
    assert_eq!(stats(&a).get("collections"), stats(&b).get("collections"));
    let za = ok(&["get", s(&a), "z", "--collection", "odd"]);
    assert_eq!(za, ok(&["get", s(&b), "z", "--collection", "odd"]));
    assert!(za.contains("\"f\":2.0") && za.contains("\"i\":-7"), "{za}");

    // npy and fvecs: one collection, vectors bit-exact.
    for (ext, format) in [("npy", "npy"), ("fvecs", "fvecs")] {
        let one = dir.path().join(format!("one.{ext}"));
        ok(&["export", s(&a), s(&one), "--collection", "m"]);
        let c = dir.path().join(format!("c-{ext}"));
        ok(&[
            "import",
            s(&c),
            s(&one),
            "--collection",
            "m",
            "--format",
            format,
        ]);
        let two = dir.path().join(format!("two.{ext}"));
        ok(&["export", s(&c), s(&two)]);
        assert!(
            std::fs::read(&one).unwrap() == std::fs::read(&two).unwrap(),
            "{ext} export differs after a round trip"
        );
        assert_eq!(
            ok(&["get", s(&a), "7", "--collection", "m"]),
            ok(&["get", s(&c), "7", "--collection", "m"])
        );
    }
    let err = fails(&["export", s(&a), s(&dir.path().join("all.npy"))]);
    assert!(err.contains("--collection"), "{err}");
    assert!(!dir.path().join("all.npy").exists());
    let err = fails(&[
        "export",
        s(&a),
        s(&dir.path().join("x.jsonl")),
        "--collection",
        "nope",
    ]);
    assert!(err.contains("no collection 'nope'"), "{err}");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains("nidus-tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
