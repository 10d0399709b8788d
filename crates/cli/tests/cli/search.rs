//! `nidus search`: plain, filtered, scoped and `--like` searches, and the
//! edges of its input (and of an import's, whose stderr stays quiet).

use nidus_cli::formats::Format;
use nidus_cli::json::{self, Json};

use crate::common::{
    expect_code, fails, ids, nidus, ok, results, s, small_jsonl, small_store_in_two_collections,
    stderr, write_file,
};

#[test]
fn search_plain_filtered_scoped_and_like() {
    let dir = tempfile::tempdir().unwrap();
    let store = small_store_in_two_collections(dir.path());

    // Plain: every collection, best first, exact cosine.
    let out = ok(&["search", s(&store), "--vector", "[2, 0, 0]", "--k", "3"]);
    let r = results(&out);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].0, "0");
    let hits = &r[0].1;
    assert_eq!(hits.len(), 3);
    assert_eq!(hits[0].1, "a");
    assert!((hits[0].2 - 1.0).abs() < 1e-6, "{hits:?}");
    assert_eq!(hits[1].1, "a");
    assert_ne!(hits[0].0, hits[1].0, "a from both collections first");
    assert!(
        (hits[2].2 - 0.9 / (0.82f32).sqrt()).abs() < 1e-5,
        "{hits:?}"
    );

    // Scoped: one collection; several collections merge into one ranking.
    let out = ok(&[
        "search",
        s(&store),
        "--vector",
        "[1,0,0]",
        "--collection",
        "other",
    ]);
    let r = results(&out);
    assert_eq!(r[0].1.len(), 5);
    assert!(r[0].1.iter().all(|h| h.0 == "other"));
    let out = ok(&[
        "search",
        s(&store),
        "--vector",
        "[1,0,0]",
        "--collection",
        "other",
        "--collection",
        "default",
        "--k",
        "10",
    ]);
    assert_eq!(results(&out)[0].1.len(), 10);
    let err = fails(&[
        "search",
        s(&store),
        "--vector",
        "[1,0,0]",
        "--collection",
        "nope",
    ]);
    assert!(err.contains("no collection 'nope'"), "{err}");

    // Filtered, each operator family.
    let cases = [
        (r#"{"source": "man"}"#, vec!["a", "c", "e"]),
        (r#"{"year": {"$gte": 2020}}"#, vec!["a", "c", "d"]),
        (r#"{"year": {"$gt": 2019, "$lt": 2024}}"#, vec!["a", "d"]),
        (r#"{"source": {"$in": ["wiki", "blog"]}}"#, vec!["b", "d"]),
        (r#"{"source": {"$nin": ["man"]}}"#, vec!["b", "d"]),
        (r#"{"source": {"$ne": "man"}}"#, vec!["b", "d"]),
        (r#"{"draft": {"$exists": true}}"#, vec!["c"]),
        (r#"{"year": null}"#, vec!["e"]),
        (r#"{"path": {"$glob": "src/*.rs"}}"#, vec!["d"]),
        (r#"{"tags": "x"}"#, vec!["a"]),
        (r#"{"tags": {"$glob": "?"}}"#, vec!["a"]),
        (
            r#"{"$or": [{"source": "wiki"}, {"year": 2024}]}"#,
            vec!["b", "c"],
        ),
        (
            r#"{"$and": [{"source": "man"}, {"$not": {"draft": {"$exists": true}}}]}"#,
            vec!["a", "e"],
        ),
        (r#"{"year": {"$lte": 2019}}"#, vec!["b"]),
    ];
    for (filter, expected) in cases {
        let out = ok(&[
            "search",
            s(&store),
            "--vector",
            "[1,1,1]",
            "--k",
            "10",
            "--collection",
            "default",
            "--filter",
            filter,
        ]);
        let mut got = ids(&out).remove(0);
        got.sort();
        assert_eq!(got, expected, "{filter}");
    }

    // --min-score and --attrs.
    let out = ok(&[
        "search",
        s(&store),
        "--vector",
        "[1,0,0]",
        "--min-score",
        "0.95",
        "--collection",
        "default",
        "--attrs",
    ]);
    assert_eq!(ids(&out), [vec!["a", "b"]]);
    let first = json::parse(out.trim()).unwrap();
    let Some(Json::Array(hits)) = first.get("hits") else {
        panic!()
    };
    assert_eq!(
        hits[0].get("attrs").unwrap().get("source"),
        Some(&Json::Str("man".into()))
    );

    // --like: the stored record's vector (it is its own best hit).
    let out = ok(&[
        "search",
        s(&store),
        "--like",
        "d",
        "--k",
        "2",
        "--collection",
        "default",
    ]);
    let r = results(&out);
    assert_eq!(r[0].1[0].1, "d");
    assert!((r[0].1[0].2 - 1.0).abs() < 1e-6);
    let err = fails(&["search", s(&store), "--like", "zz"]);
    assert!(err.contains("no record 'zz'"), "{err}");

    // --queries: JSONL ids label the results; npy rows are numbered; any
    // --batch gives the same answers.
    let q = dir.path().join("q.jsonl");
    std::fs::write(
        &q,
        "{\"id\": \"q1\", \"vector\": [0, 1, 0]}\n{\"vector\": [0, 0, 1]}\n{\"id\": \"q3\", \"vector\": [1, 0, 0]}\n",
    )
    .unwrap();
    let args = [
        "search",
        s(&store),
        "--queries",
        s(&q),
        "--k",
        "1",
        "--collection",
        "default",
    ];
    let out = ok(&args);
    let r = results(&out);
    let labels: Vec<&str> = r.iter().map(|(l, _)| l.as_str()).collect();
    assert_eq!(labels, ["\"q1\"", "1", "\"q3\""]);
    assert_eq!(ids(&out), [vec!["d"], vec!["e"], vec!["a"]]);
    for batch in ["1", "2"] {
        let mut with_batch = args.to_vec();
        with_batch.extend(["--batch", batch]);
        assert_eq!(ok(&with_batch), out, "--batch {batch}");
    }
    let qn = dir.path().join("q.npy");
    write_file(
        &qn,
        Format::Npy,
        &[vec![0.0, 1.0, 0.0], vec![0.0, 0.0, 1.0]],
    );
    let out = ok(&[
        "search",
        s(&store),
        "--queries",
        s(&qn),
        "--k",
        "1",
        "--collection",
        "default",
    ]);
    assert_eq!(results(&out)[1].0, "1");
    assert_eq!(ids(&out), [vec!["d"], vec!["e"]]);

    // Wrong query dimension.
    let err = fails(&["search", s(&store), "--vector", "[1, 0]"]);
    assert!(
        err.contains("2 values") && err.contains("dimension is 3"),
        "{err}"
    );
}

#[test]
fn edges_and_quiet_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("st");
    // stderr is a pipe here: no progress line, no control characters.
    let o = nidus(&["import", s(&store), s(&small_jsonl(dir.path()))]);
    expect_code(&o, 0);
    assert!(o.stderr.is_empty(), "{}", stderr(&o));
    // k beyond the record count returns what there is.
    let out = ok(&["search", s(&store), "--vector", "[1,2,3]", "--k", "1000"]);
    assert_eq!(ids(&out)[0].len(), 5);
    // A filter nothing matches: an empty hit list, not an error.
    let out = ok(&[
        "search",
        s(&store),
        "--vector",
        "[1,2,3]",
        "--filter",
        "{\"source\": \"none\"}",
    ]);
    assert_eq!(out, "{\"query\":0,\"hits\":[]}\n");
    // A zero query vector has no direction.
    let err = fails(&["search", s(&store), "--vector", "[0,0,0]"]);
    assert!(err.contains("zero"), "{err}");
    // Searching a store that does not exist.
    let err = fails(&["search", s(&dir.path().join("none")), "--vector", "[1]"]);
    assert!(err.contains("no store at"), "{err}");
    // An empty JSONL file into a new store: nothing to take a dimension from.
    let empty = dir.path().join("empty.jsonl");
    std::fs::write(&empty, "\n\n").unwrap();
    let err = fails(&["import", s(&dir.path().join("new")), s(&empty)]);
    assert!(err.contains("holds no rows"), "{err}");
    // ... into an existing store: fine, nothing imported.
    assert!(ok(&["import", s(&store), s(&empty)]).starts_with("imported 0 rows"));
}
