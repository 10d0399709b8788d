//! `nidus get STORE --filter JSON [--collection NAME]`: every record that
//! matches, as JSON lines (issue 18), and path globs through `--filter`.

use std::path::Path;
use std::process::{Command, Output};

fn nidus(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nidus"))
        .args(args)
        .output()
        .expect("the nidus binary runs")
}

#[track_caller]
fn ok(args: &[&str]) -> String {
    let o = nidus(args);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8(o.stdout).expect("UTF-8 output")
}

#[track_caller]
fn fails(args: &[&str], code: i32) -> String {
    let o = nidus(args);
    assert_eq!(o.status.code(), Some(code), "{args:?}");
    assert!(o.stdout.is_empty(), "{args:?}");
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn s(p: &Path) -> &str {
    p.to_str().expect("temp paths are UTF-8")
}

/// The id of each output line (`{"collection":...,"id":"a",...}`), in order.
fn ids(out: &str) -> Vec<String> {
    out.lines()
        .map(|l| {
            let rest = &l[l.find(r#""id":""#).expect("an id") + 6..];
            rest[..rest.find('"').expect("a closing quote")].to_owned()
        })
        .collect()
}

/// A store with "docs" (a..e) and "notes" (n1, n2).
fn store(dir: &Path) -> std::path::PathBuf {
    let store = dir.join("st");
    let docs = dir.join("docs.jsonl");
    std::fs::write(
        &docs,
        [
            r#"{"id": "a", "vector": [1, 0, 0], "attrs": {"year": 2021, "path": "src/a.rs"}}"#,
            r#"{"id": "b", "vector": [0, 1, 0], "attrs": {"year": 2019, "path": "src/deep/b.rs"}}"#,
            r#"{"id": "c", "vector": [0, 0, 1], "attrs": {"year": 2021, "path": "docs/c.md"}}"#,
            r#"{"id": "d", "vector": [1, 1, 0], "attrs": {"year": 2024}}"#,
            r#"{"id": "e", "vector": [1, 0, 1], "attrs": {"year": 2021, "path": "src/x/y/e.rs"}}"#,
        ]
        .join("\n"),
    )
    .unwrap();
    ok(&["import", s(&store), s(&docs), "--collection", "docs"]);
    let notes = dir.join("notes.jsonl");
    std::fs::write(
        &notes,
        [
            r#"{"id": "n1", "vector": [0, 1, 1], "attrs": {"year": 2021}}"#,
            r#"{"id": "n2", "vector": [1, 1, 1], "attrs": {"year": 2020}}"#,
        ]
        .join("\n"),
    )
    .unwrap();
    ok(&["import", s(&store), s(&notes), "--collection", "notes"]);
    store
}

#[test]
fn get_filter_prints_every_match_as_jsonl() {
    let dir = tempfile::tempdir().unwrap();
    let st = store(dir.path());
    let f2021 = r#"{"year": 2021}"#;
    // All collections by name, store order within each.
    let out = ok(&["get", s(&st), "--filter", f2021]);
    assert_eq!(ids(&out), ["a", "c", "e", "n1"]);
    assert!(out.lines().all(|l| l.contains(r#""year":2021"#)), "{out}");
    assert!(
        out.starts_with(r#"{"collection":"docs","id":"a","vector":[1,0,0]"#),
        "{out}"
    );
    // One collection.
    let out = ok(&["get", s(&st), "--filter", f2021, "--collection", "notes"]);
    assert_eq!(ids(&out), ["n1"]);
    // Lines are the import format: importing them reproduces the records.
    let copy = dir.path().join("copy");
    let file = dir.path().join("out.jsonl");
    std::fs::write(&file, ok(&["get", s(&st), "--filter", f2021])).unwrap();
    ok(&["import", s(&copy), s(&file)]);
    assert_eq!(
        ok(&["get", s(&copy), "c", "--collection", "docs"]),
        ok(&["get", s(&st), "c", "--collection", "docs"])
    );
    // No match: no output, success.
    assert_eq!(ok(&["get", s(&st), "--filter", r#"{"year": 1900}"#]), "");
}

#[test]
fn get_filter_globs_keep_star_within_a_segment() {
    let dir = tempfile::tempdir().unwrap();
    let st = store(dir.path());
    let glob = |p: &str| format!(r#"{{"path": {{"$glob": "{p}"}}}}"#);
    let run = |p: &str| {
        ids(&ok(&[
            "get",
            s(&st),
            "--filter",
            &glob(p),
            "--collection",
            "docs",
        ]))
    };
    assert_eq!(run("src/*.rs"), ["a"]);
    assert_eq!(run("src/**/*.rs"), ["a", "b", "e"]);
    assert_eq!(run("src/**.rs"), ["a", "b", "e"]);
    assert_eq!(run("src/*/*.rs"), ["b"]);
    assert_eq!(run("*"), Vec::<String>::new());
    assert_eq!(run("**"), ["a", "b", "c", "e"]);
}

#[test]
fn get_refuses_an_id_and_a_filter_together_or_neither() {
    let dir = tempfile::tempdir().unwrap();
    let st = store(dir.path());
    let err = fails(&["get", s(&st), "a", "--filter", "{}"], 2);
    assert!(err.contains("not both"), "{err}");
    let err = fails(&["get", s(&st)], 2);
    assert!(err.contains("--filter JSON"), "{err}");
    let err = fails(
        &["get", s(&st), "--filter", "{\"year\": {\"$glob\": 1}}"],
        2,
    );
    assert!(err.contains("$glob takes a string"), "{err}");
    let err = fails(
        &[
            "get",
            s(&st),
            "--filter",
            r#"{"year": 1}"#,
            "--collection",
            "nope",
        ],
        1,
    );
    assert!(err.contains("no collection 'nope'"), "{err}");
}
