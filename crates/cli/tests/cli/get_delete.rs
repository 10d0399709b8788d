//! `nidus get` and `nidus delete`.

use nidus_cli::json::{self, Json};

use crate::common::{
    fails, ids, int, ok, records, s, small_store, small_store_in_two_collections, stats,
};

#[test]
fn get_prints_the_record() {
    let dir = tempfile::tempdir().unwrap();
    let store = small_store(dir.path());
    let out = ok(&["get", s(&store), "c"]);
    let v = json::parse(out.trim()).unwrap();
    assert_eq!(v.get("id"), Some(&Json::Str("c".into())));
    assert_eq!(v.get("collection"), Some(&Json::Str("default".into())));
    assert_eq!(
        v.get("attrs").unwrap().get("draft"),
        Some(&Json::Bool(true))
    );
    let Some(Json::Array(vector)) = v.get("vector") else {
        panic!("{out}")
    };
    let norm: f32 = vector
        .iter()
        .map(|x| match x {
            Json::Number(n) => n.as_f32().unwrap().powi(2),
            _ => panic!(),
        })
        .sum();
    assert!((norm - 1.0).abs() < 1e-6, "stored unit-length: {norm}");
    let err = fails(&["get", s(&store), "zz"]);
    assert!(err.contains("not found") && err.contains("'zz'"), "{err}");
    let err = fails(&["get", s(&store), "c", "--collection", "nope"]);
    assert!(err.contains("not found"), "{err}");
    let err = fails(&["get", s(&dir.path().join("nostore")), "c"]);
    assert!(err.contains("no store at"), "{err}");
}

#[test]
fn delete_by_id_and_by_filter() {
    let dir = tempfile::tempdir().unwrap();
    let store = small_store_in_two_collections(dir.path());
    assert_eq!(
        ok(&["delete", s(&store), "a", "b", "zz"]),
        "deleted 2 records\n"
    );
    fails(&["get", s(&store), "a"]);
    ok(&["get", s(&store), "a", "--collection", "other"]);
    assert_eq!(records(&store), 8);
    // By filter, in one collection, then in all.
    let out = ok(&[
        "delete",
        s(&store),
        "--collection",
        "other",
        "--filter",
        r#"{"source": "man"}"#,
    ]);
    assert_eq!(out, "deleted 3 records\n");
    let out = ok(&[
        "delete",
        s(&store),
        "--filter",
        r#"{"year": {"$gte": 2020}}"#,
    ]);
    // c and d in 'default', d in 'other'.
    assert_eq!(out, "deleted 3 records\n");
    let mut left = ids(&ok(&[
        "search",
        s(&store),
        "--vector",
        "[1,1,1]",
        "--k",
        "10",
    ]))
    .remove(0);
    left.sort();
    assert_eq!(left, ["b", "e"]);
    assert_eq!(int(stats(&store).get("dead")), 8);
    let err = fails(&["delete", s(&store), "x", "--collection", "nope"]);
    assert!(err.contains("no collection 'nope'"), "{err}");
    // Compaction drops the dead rows and keeps the live ones.
    let out = ok(&["compact", s(&store)]);
    assert!(out.starts_with("compacted "), "{out}");
    assert_eq!(int(stats(&store).get("dead")), 0);
    assert_eq!(records(&store), 2);
    ok(&["verify", s(&store)]);
}
