//! End-to-end tests: run the built `nidus` binary on small files in
//! temporary directories and check its stdout, stderr and exit code.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use nidus_format::{Appender, Attributes, Batch, HEADER_LEN, Header, Op};

/// Runs `nidus` with `args`.
fn nidus(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nidus"))
        .args(args)
        .output()
        .expect("the nidus binary runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts the exit code, showing the output on failure.
#[track_caller]
fn expect_code(o: &Output, code: i32) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        stdout(o),
        stderr(o)
    );
}

fn s(p: &Path) -> &str {
    p.to_str().expect("temp paths are UTF-8")
}

// ---------------------------------------------------------------- usage

#[test]
fn version_and_help() {
    let o = nidus(&["--version"]);
    expect_code(&o, 0);
    assert_eq!(stdout(&o), format!("nidus {}\n", env!("CARGO_PKG_VERSION")));
    let o = nidus(&["--help"]);
    expect_code(&o, 0);
    for cmd in [
        "import", "search", "get", "delete", "stats", "verify", "compact", "export", "bench",
        "demo",
    ] {
        assert!(stdout(&o).contains(cmd), "overview lacks {cmd}");
        let o = nidus(&[cmd, "--help"]);
        expect_code(&o, 0);
        assert!(
            stdout(&o).contains(&format!("Usage: nidus {cmd}")),
            "{cmd} --help: {}",
            stdout(&o)
        );
    }
}

#[test]
fn usage_errors_exit_2_and_name_the_problem() {
    let cases: &[(&[&str], &str)] = &[
        (&[], "no command given"),
        (&["serch", "x"], "unknown command 'serch'"),
        (
            &["search", "st", "--vector", "[1]", "--kk", "3"],
            "unknown flag '--kk' for 'nidus search'; valid flags: --vector, --queries",
        ),
        (
            &["search", "st"],
            "exactly one of --vector, --queries and --like",
        ),
        (
            &["search", "st", "--vector", "[1]", "--like", "a"],
            "exactly one of",
        ),
        (
            &["search", "st", "--vector", "[1]", "--k", "ten"],
            "invalid value 'ten' for --k",
        ),
        (
            &["search", "st", "--vector", "[1]", "--k", "0"],
            "--k must be at least 1",
        ),
        (
            &["search", "st", "--vector", "[1, NaN]"],
            "--vector: line 1, column 5: NaN",
        ),
        (
            &[
                "search",
                "st",
                "--vector",
                "[1]",
                "--filter",
                "{\"a\": {\"$regex\": 1}}",
            ],
            "unknown operator '$regex'",
        ),
        (
            &["search", "st", "--vector", "[1]", "--filter", "{"],
            "--filter: line 1, column 2",
        ),
        (&["import", "st"], "missing argument"),
        (
            &["import", "st", "data.csv"],
            "cannot tell the format of 'data.csv'",
        ),
        (
            &["import", "st", "x.jsonl", "--format", "csv"],
            "unknown format 'csv'",
        ),
        (
            &["import", "st", "x.jsonl", "--batch", "0"],
            "--batch must be between 1 and 1000000",
        ),
        (
            &["import", "st", "x.jsonl", "--batch", "1000001"],
            "--batch must be between",
        ),
        (
            &["import", "st", "x.jsonl", "--batch", "-1"],
            "invalid value '-1' for --batch",
        ),
        (
            &["search", "st", "--vector", "[1]", "--batch", "0"],
            "--batch must be between 1 and 100000",
        ),
        (
            &["search", "st", "--vector", "[1]", "--min-score", "inf"],
            "--min-score must be a finite",
        ),
        (&["bench", "--n", "0"], "--n must be at least 1"),
        (
            &["bench", "--n", "100000000", "--dim", "1000"],
            "below 2^31",
        ),
        (&["delete", "st"], "give the ids to delete, or --filter"),
        (&["delete", "st", "a", "--filter", "{\"a\":1}"], "not both"),
        (&["stats", "st", "extra"], "unexpected argument 'extra'"),
        (&["stats", "st", "--json=yes"], "--json takes no value"),
        (&["bench", "--n"], "--n needs a value"),
    ];
    for (args, expected) in cases {
        let o = nidus(args);
        expect_code(&o, 2);
        let err = stderr(&o);
        assert!(err.starts_with("error: "), "{args:?}: {err}");
        assert!(err.contains(expected), "{args:?}: {err}");
        assert!(o.stdout.is_empty(), "{args:?}");
    }
    // The usage line of the command follows the error.
    let o = nidus(&["get", "st"]);
    assert!(
        stderr(&o).contains("Usage: nidus get STORE ID"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn failures_exit_1_with_causes() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.jsonl");
    let o = nidus(&["import", s(&dir.path().join("st")), s(&missing)]);
    expect_code(&o, 1);
    let err = stderr(&o);
    assert!(err.starts_with("error: cannot open "), "{err}");
    assert!(
        err.contains("nope.jsonl") && err.contains("caused by: "),
        "{err}"
    );
}

// --------------------------------------------------------------- verify

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
    let o = nidus(&["verify", s(&store)]);
    expect_code(&o, 1);
    let err = stderr(&o);
    assert!(
        err.contains(&format!("torn tail at byte offset {}", starts[2])),
        "{err}"
    );

    // Corrupt: flip a byte inside the middle frame, with data after it.
    let mut bad = full.clone();
    let at = usize::try_from(starts[1]).unwrap() + 20;
    bad[at] ^= 0x40;
    std::fs::write(&data, &bad).unwrap();
    let o = nidus(&["verify", s(&store)]);
    expect_code(&o, 1);
    let err = stderr(&o);
    assert!(
        err.contains(&format!("corruption at byte offset {}", starts[1])),
        "{err}"
    );

    // Not a store at all.
    std::fs::write(&data, b"hello, world, this is not a nidus file at all....").unwrap();
    let o = nidus(&["verify", s(&store)]);
    expect_code(&o, 1);
    assert!(
        stderr(&o).contains("corruption at byte offset 0"),
        "{}",
        stderr(&o)
    );

    let o = nidus(&["verify", s(&dir.path().join("none"))]);
    expect_code(&o, 1);
    assert!(stderr(&o).contains("no store at"), "{}", stderr(&o));
}

// ------------------------------------------------------ data and stores

use nidus_cli::formats::{self, Format};
use nidus_cli::json::{self, Json};

/// A JSONL line for `id` with `vector` and raw JSON `attrs`.
fn line(id: &str, vector: &[f32], attrs: &str) -> String {
    let mut v = String::new();
    for (i, x) in vector.iter().enumerate() {
        if i > 0 {
            v.push(',');
        }
        json::write_f32(&mut v, *x);
    }
    format!("{{\"id\": \"{id}\", \"vector\": [{v}], \"attrs\": {attrs}}}\n")
}

/// A small, known data set (dimension 3): three records near the x axis,
/// one near y, one near z, with attributes.
fn small_jsonl(dir: &Path) -> PathBuf {
    let path = dir.join("small.jsonl");
    let text = [
        line(
            "a",
            &[1.0, 0.0, 0.0],
            r#"{"source": "man", "year": 2021, "tags": ["x", "y"]}"#,
        ),
        line("b", &[0.9, 0.1, 0.0], r#"{"source": "wiki", "year": 2019}"#),
        line(
            "c",
            &[0.8, 0.0, 0.3],
            r#"{"source": "man", "year": 2024, "draft": true}"#,
        ),
        line(
            "d",
            &[0.0, 1.0, 0.0],
            r#"{"source": "blog", "year": 2020, "path": "src/d.rs"}"#,
        ),
        line("e", &[0.0, 0.0, 1.0], r#"{"source": "man", "year": null}"#),
    ]
    .concat();
    std::fs::write(&path, text).unwrap();
    path
}

/// Generated rows: `n` pseudo-random vectors of `dim` values.
fn rows(n: usize, dim: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = nidus_cli::synth::Rng::new(seed);
    (0..n)
        .map(|_| (0..dim).map(|_| rng.normal()).collect())
        .collect()
}

fn write_file(path: &Path, format: Format, rows: &[Vec<f32>]) {
    let file = std::fs::File::create(path).unwrap();
    let mut w = formats::create_writer(file, format, rows[0].len()).unwrap();
    for (i, r) in rows.iter().enumerate() {
        w.write_row("default", &format!("r{i}"), r, &Attributes::new())
            .unwrap();
    }
    w.finish().unwrap();
}

/// Runs a command that must succeed; returns its stdout.
#[track_caller]
fn ok(args: &[&str]) -> String {
    let o = nidus(args);
    expect_code(&o, 0);
    stdout(&o)
}

/// Runs a command that must fail with exit 1; returns its stderr.
#[track_caller]
fn fails(args: &[&str]) -> String {
    let o = nidus(args);
    expect_code(&o, 1);
    let err = stderr(&o);
    assert!(err.starts_with("error: "), "{err}");
    err
}

fn stats(store: &Path) -> Json {
    json::parse(ok(&["stats", s(store), "--json"]).trim()).unwrap()
}

fn int(v: Option<&Json>) -> i64 {
    match v {
        Some(Json::Number(n)) => n.as_i64().unwrap(),
        other => panic!("not an integer: {other:?}"),
    }
}

fn records(store: &Path) -> i64 {
    int(stats(store).get("records"))
}

/// Parses search output: one (query label, [(collection, id, score)]) per line.
/// One search hit: (collection, id, score).
type HitRow = (String, String, f32);

fn results(out: &str) -> Vec<(String, Vec<HitRow>)> {
    out.lines()
        .map(|l| {
            let v = json::parse(l).unwrap();
            let label = v.get("query").unwrap().to_string();
            let Some(Json::Array(hits)) = v.get("hits") else {
                panic!("{l}")
            };
            let hits = hits
                .iter()
                .map(|h| {
                    let text = |k: &str| match h.get(k) {
                        Some(Json::Str(s)) => s.clone(),
                        other => panic!("{k}: {other:?}"),
                    };
                    let Some(Json::Number(score)) = h.get("score") else {
                        panic!("{l}")
                    };
                    (text("collection"), text("id"), score.as_f32().unwrap())
                })
                .collect();
            (label, hits)
        })
        .collect()
}

fn ids(out: &str) -> Vec<Vec<String>> {
    results(out)
        .into_iter()
        .map(|(_, hits)| hits.into_iter().map(|(_, id, _)| id).collect())
        .collect()
}

// --------------------------------------------------------------- import

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

// ---------------------------------------------------------- search, get

#[test]
fn search_plain_filtered_scoped_and_like() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("st");
    let small = small_jsonl(dir.path());
    ok(&["import", s(&store), s(&small)]);
    ok(&["import", s(&store), s(&small), "--collection", "other"]);

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
fn get_prints_the_record() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("st");
    ok(&["import", s(&store), s(&small_jsonl(dir.path()))]);
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

// --------------------------------------------------------------- delete

#[test]
fn delete_by_id_and_by_filter() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("st");
    let small = small_jsonl(dir.path());
    ok(&["import", s(&store), s(&small)]);
    ok(&["import", s(&store), s(&small), "--collection", "other"]);
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

// ------------------------------------------------------ export, round trip

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

// ---------------------------------------------------- bad input, no damage

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

use nidus_cli::db::Db;

#[test]
fn bad_input_fails_clearly_without_damage() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("st");
    ok(&["import", s(&store), s(&small_jsonl(dir.path()))]);
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

// ------------------------------------------------- concurrent search

#[test]
fn search_works_while_an_import_runs() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("st");
    ok(&["import", s(&store), s(&small_jsonl(dir.path()))]);
    // A larger import in many small durable batches, in another process.
    let big = dir.path().join("big.jsonl");
    let text: String = rows(6000, 3, 11)
        .iter()
        .enumerate()
        .map(|(i, v)| line(&format!("big{i}"), v, "{\"n\": 1}"))
        .collect();
    std::fs::write(&big, text).unwrap();
    let mut writer = Command::new(env!("CARGO_BIN_EXE_nidus"))
        .args(["import", s(&store), s(&big), "--batch", "100"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut seen = Vec::new();
    let mut searches_during_import = 0;
    loop {
        let running = writer.try_wait().unwrap().is_none();
        let out = ok(&["search", s(&store), "--vector", "[1, 0, 0]", "--k", "3"]);
        assert_eq!(ids(&out)[0].len(), 3);
        let n = records(&store);
        seen.push(n);
        if !running {
            break;
        }
        searches_during_import += 1;
    }
    assert!(writer.wait().unwrap().success());
    assert!(seen.windows(2).all(|w| w[0] <= w[1]), "{seen:?}");
    assert_eq!(*seen.last().unwrap(), 6005);
    // Whole batches only: every count a reader saw is 5 + a multiple of 100.
    assert!(seen.iter().all(|n| (n - 5) % 100 == 0), "{seen:?}");
    eprintln!("{searches_during_import} searches ran during the import");
}

// ------------------------------------------------------ kill, bench, edges

#[test]
fn a_killed_import_leaves_whole_batches() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("st");
    let big = dir.path().join("big.jsonl");
    let text: String = rows(20_000, 4, 12)
        .iter()
        .enumerate()
        .map(|(i, v)| line(&format!("k{i}"), v, "{}"))
        .collect();
    std::fs::write(&big, text).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_nidus"))
        .args(["import", s(&store), s(&big), "--batch", "250"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
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

/// The record count, or 0 while the store cannot be read yet.
fn records_quiet(store: &Path) -> i64 {
    let o = nidus(&["stats", s(store), "--json"]);
    match json::parse(stdout(&o).trim()) {
        Ok(v) if o.status.success() => int(v.get("records")),
        _ => 0,
    }
}

#[test]
fn bench_json_has_every_key() {
    let out = ok(&[
        "bench",
        "--n",
        "500",
        "--dim",
        "8",
        "--queries",
        "3",
        "--batch",
        "100",
        "--json",
    ]);
    let v = json::parse(out.trim()).unwrap();
    for key in [
        "n",
        "dim",
        "k",
        "threads",
        "tier",
        "ingest_vectors_per_s",
        "open_gb_per_s",
        "query_p50_ms",
        "query_p95_ms",
        "query_gb_per_s",
        "batch_queries_per_s",
        "batch_gflops",
        "kernel_query_p50_ms",
        "kernel_batch_queries_per_s",
        "read_bandwidth_gb_per_s",
        "fma_peak_gflops",
    ] {
        assert!(v.get(key).is_some(), "{key} missing: {out}");
    }
    assert_eq!(int(v.get("n")), 500);
    assert_eq!(int(v.get("dim")), 8);
    assert!(matches!(v.get("tier"), Some(Json::Str(t)) if !t.is_empty()));
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

/// An import reading from a FIFO holds the writer lock, mid-file, for as
/// long as the test wants: a deterministic "writer at work".
#[test]
#[cfg(target_os = "linux")]
fn while_an_import_holds_the_lock() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("st");
    ok(&["import", s(&store), s(&small_jsonl(dir.path()))]);
    let fifo = dir.path().join("feed.jsonl");
    let made = Command::new("mkfifo").arg(&fifo).status();
    if !made.is_ok_and(|st| st.success()) {
        eprintln!("mkfifo unavailable: skipped");
        return;
    }
    let mut writer = Command::new(env!("CARGO_BIN_EXE_nidus"))
        .args(["import", s(&store), s(&fifo), "--batch", "10"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Open the FIFO without blocking (O_NONBLOCK fails until the import
    // has opened it for reading), so a failed import cannot hang the test.
    let mut feed = loop {
        use std::os::unix::fs::OpenOptionsExt;
        const O_NONBLOCK: i32 = 0o4000; // Linux, x86 and arm
        match std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(O_NONBLOCK)
            .open(&fifo)
        {
            Ok(f) => break f,
            Err(_) => {
                assert!(
                    writer.try_wait().unwrap().is_none(),
                    "the import ended early"
                );
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        }
    };
    let data = rows(40, 3, 3);
    let text: String = (0..25)
        .map(|i| line(&format!("f{i}"), &data[i], "{}"))
        .collect();
    feed.write_all(text.as_bytes()).unwrap();
    feed.flush().unwrap();
    // Two whole batches commit; the third waits for more input.
    let start = std::time::Instant::now();
    while records_quiet(&store) < 25 && start.elapsed().as_secs() < 30 {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert_eq!(records(&store), 25);
    // A second writer is refused, naming the holder; readers go on.
    let err = fails(&["delete", s(&store), "a"]);
    assert!(
        err.contains("store is locked") && err.contains("held by pid"),
        "{err}"
    );
    let err = fails(&["compact", s(&store)]);
    assert!(err.contains("locked"), "{err}");
    let out = ok(&["search", s(&store), "--vector", "[1,0,0]", "--k", "30"]);
    assert_eq!(ids(&out)[0].len(), 25);
    ok(&["get", s(&store), "f19"]);
    ok(&["verify", s(&store)]);
    // Finish the feed: the import completes with every row.
    let rest: String = (25..40)
        .map(|i| line(&format!("f{i}"), &data[i], "{}"))
        .collect();
    feed.write_all(rest.as_bytes()).unwrap();
    drop(feed);
    assert!(writer.wait().unwrap().success());
    assert_eq!(records(&store), 45);
    assert_eq!(ok(&["delete", s(&store), "a"]), "deleted 1 records\n");
}

/// The main job end to end (slow in debug: run with
/// `cargo test --release -p nidus-cli -- --ignored`).
#[test]
#[ignore]
fn demo_runs_to_the_end() {
    let out = ok(&["demo"]);
    for step in [
        "import", "reopen", "search", "filtered", "scoped", "batch", "delete", "compact", "verify",
    ] {
        assert!(
            out.contains(&format!("  {step} ")),
            "{step} missing:\n{out}"
        );
    }
    assert!(
        out.contains("nearest hit in the query's cluster for 1024/1024"),
        "{out}"
    );
    assert!(out.contains("\ndone in "), "{out}");
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

/// Runs `nidus` with `input` on stdin.
fn nidus_with_stdin(args: &[&str], input: &[u8]) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_nidus"))
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let feeder = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    out
}

#[test]
fn stdin_and_stdout_streams() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a");
    let text = std::fs::read(small_jsonl(dir.path())).unwrap();
    let o = nidus_with_stdin(&["import", s(&a), "-", "--format", "jsonl"], &text);
    expect_code(&o, 0);
    assert!(stdout(&o).starts_with("imported 5 rows"), "{}", stdout(&o));
    let o = nidus_with_stdin(&["import", s(&a), "-"], &text);
    expect_code(&o, 2);
    assert!(stderr(&o).contains("needs --format"), "{}", stderr(&o));

    // export to stdout | import from stdin: the same records.
    let o = nidus(&["export", s(&a), "-", "--format", "jsonl"]);
    expect_code(&o, 0);
    let b = dir.path().join("b");
    let o2 = nidus_with_stdin(&["import", s(&b), "-", "--format", "jsonl"], &o.stdout);
    expect_code(&o2, 0);
    let again = nidus(&["export", s(&b), "-", "--format", "jsonl"]);
    assert_eq!(o.stdout, again.stdout);
    // fvecs through a pipe, too; npy needs a file.
    let o = nidus(&["export", s(&a), "-", "--format", "fvecs"]);
    expect_code(&o, 0);
    assert_eq!(o.stdout.len(), 5 * (4 + 3 * 4));
    let err = fails(&["export", s(&a), "-", "--format", "npy"]);
    assert!(err.contains("npy export needs a file"), "{err}");
    // A truncated fvecs stream fails while reading, importing nothing.
    let c = dir.path().join("c");
    let o = nidus_with_stdin(
        &["import", s(&c), "-", "--format", "fvecs"],
        &o.stdout[..30],
    );
    expect_code(&o, 1);
    assert!(stderr(&o).contains("truncated"), "{}", stderr(&o));

    // Queries from stdin.
    let o = nidus_with_stdin(
        &[
            "search",
            s(&a),
            "--queries",
            "-",
            "--format",
            "jsonl",
            "--k",
            "1",
        ],
        b"{\"id\": \"q\", \"vector\": [0, 1, 0]}\n",
    );
    expect_code(&o, 0);
    assert_eq!(ids(&stdout(&o)), [vec!["d"]]);
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

#[test]
fn a_closed_stdout_is_a_quiet_success() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("st");
    ok(&["import", s(&store), s(&small_jsonl(dir.path()))]);
    let q = dir.path().join("q.npy");
    write_file(&q, Format::Npy, &rows(3000, 3, 8));
    for args in [
        vec!["search", s(&store), "--queries", s(&q), "--k", "5"],
        vec!["--help"],
        vec!["stats", s(&store)],
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_nidus"))
            .args(&args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take()); // like `| head -0`
        let out = child.wait_with_output().unwrap();
        expect_code(&out, 0);
        assert!(out.stderr.is_empty(), "{args:?}: {}", stderr(&out));
    }
}
