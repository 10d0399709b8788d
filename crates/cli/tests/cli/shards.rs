//! Shards: `import --shard I/N` splits a file into disjoint stores that
//! cover it, `search S0 S1 ...` over them equals `search` over one store
//! holding everything (ids and scores bit for bit, "store" on every hit),
//! and the refusals: mixed dimensions, a failing shard, a store given
//! twice, and what `--allow-partial` says.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use nidus_cli::json::{self, Json};
use nidus_format::{HEADER_LEN, shard_of};

use crate::common::{expect_code, fails, line, nidus, ok, records, rows, s, stderr};

/// 600 records of dimension 16 in two collections (named by each line's
/// "collection" key), with attributes to filter on.
fn data(dir: &Path) -> PathBuf {
    let path = dir.join("data.jsonl");
    let mut text = String::new();
    for (i, v) in rows(600, 16, 7).iter().enumerate() {
        let collection = if i % 3 == 0 { "notes" } else { "docs" };
        let l = line(
            &format!("r{i}"),
            v,
            &format!(r#"{{"n": {}, "even": {}}}"#, i, i % 2 == 0),
        );
        text.push_str(&l.replacen('{', &format!("{{\"collection\": \"{collection}\", "), 1));
    }
    std::fs::write(&path, text).unwrap();
    path
}

fn queries(dir: &Path) -> PathBuf {
    let path = dir.join("queries.jsonl");
    let text: String = rows(12, 16, 99)
        .iter()
        .enumerate()
        .map(|(i, v)| line(&format!("q{i}"), v, "{}"))
        .collect();
    std::fs::write(&path, text).unwrap();
    path
}

/// The whole file in one store, and in `n` shards; returns (whole, shards).
fn build(dir: &Path, n: usize) -> (PathBuf, Vec<PathBuf>) {
    let file = data(dir);
    let whole = dir.join("whole");
    ok(&["import", s(&whole), s(&file), "--batch", "100"]);
    let shards: Vec<PathBuf> = (0..n)
        .map(|i| {
            let shard = dir.join(format!("shard{i}"));
            let out = ok(&[
                "import",
                s(&shard),
                s(&file),
                "--batch",
                "100",
                "--shard",
                &format!("{i}/{n}"),
            ]);
            assert!(out.contains(&format!("shard {i}/{n}")), "{out}");
            shard
        })
        .collect();
    (whole, shards)
}

/// Every (collection, id) a store holds, via `export`.
fn keys(store: &Path, dir: &Path) -> BTreeSet<(String, String)> {
    let out = dir.join("export.jsonl");
    ok(&["export", s(store), s(&out)]);
    let keys = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| {
            let v = json::parse(l).unwrap();
            let text = |k| match v.get(k) {
                Some(Json::Str(s)) => s.clone(),
                other => panic!("{k}: {other:?}"),
            };
            (text("collection"), text("id"))
        })
        .collect();
    std::fs::remove_file(&out).unwrap();
    keys
}

/// One output line: (query label, hits as (collection, id, score bits,
/// store), the line's "partial" and "failed_stores").
type Line = (
    String,
    Vec<(String, String, u32, Option<String>)>,
    Option<Json>,
);

fn parse(out: &str) -> Vec<Line> {
    out.lines()
        .map(|l| {
            let v = json::parse(l).unwrap();
            let Some(Json::Array(hits)) = v.get("hits") else {
                panic!("{l}")
            };
            let hits = hits
                .iter()
                .map(|h| {
                    let text = |k: &str| match h.get(k) {
                        Some(Json::Str(s)) => Some(s.clone()),
                        None => None,
                        other => panic!("{k}: {other:?}"),
                    };
                    let Some(Json::Number(score)) = h.get("score") else {
                        panic!("{l}")
                    };
                    let score = score.as_f32().unwrap().to_bits();
                    (
                        text("collection").unwrap(),
                        text("id").unwrap(),
                        score,
                        text("store"),
                    )
                })
                .collect();
            (
                v.get("query").unwrap().to_string(),
                hits,
                v.get("failed_stores").cloned(),
            )
        })
        .collect()
}

#[test]
fn import_shards_are_disjoint_and_cover_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let (whole, shards) = build(dir.path(), 4);
    let all = keys(&whole, dir.path());
    assert_eq!(all.len(), 600);
    let mut union = BTreeSet::new();
    for (i, shard) in shards.iter().enumerate() {
        let mine = keys(shard, dir.path());
        assert!(mine.len() > 100, "shard {i}: {}", mine.len());
        for (c, id) in &mine {
            assert_eq!(shard_of(c, id, 4), i, "{c}/{id} in shard {i}");
            assert!(union.insert((c.clone(), id.clone())), "{c}/{id} twice");
        }
    }
    assert_eq!(union, all);

    // --collection is the collection rows are routed by.
    let file = data(dir.path());
    let one = dir.path().join("one");
    ok(&[
        "import",
        s(&one),
        s(&file),
        "--collection",
        "x",
        "--shard",
        "1/2",
    ]);
    let got = keys(&one, dir.path());
    let want: BTreeSet<_> = (0..600)
        .map(|i| format!("r{i}"))
        .filter(|id| shard_of("x", id, 2) == 1)
        .map(|id| ("x".to_owned(), id))
        .collect();
    assert_eq!(got, want);

    // N = 1 is the whole file.
    let single = dir.path().join("single");
    ok(&["import", s(&single), s(&file), "--shard", "0/1"]);
    assert_eq!(records(&single), 600);
}

#[test]
fn bad_shard_arguments_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let file = data(dir.path());
    let store = dir.path().join("st");
    for bad in ["4/4", "1", "a/2", "0/0", "-1/2", "1/2/3", ""] {
        let o = nidus(&["import", s(&store), s(&file), "--shard", bad]);
        expect_code(&o, 2);
        assert!(stderr(&o).contains("--shard"), "{bad}: {}", stderr(&o));
    }
    assert!(!store.exists());
}

#[test]
fn search_over_shards_equals_one_store_bit_for_bit() {
    let dir = tempfile::tempdir().unwrap();
    let (whole, shards) = build(dir.path(), 3);
    let q = queries(dir.path());
    let shard_args: Vec<&str> = shards.iter().map(|p| s(p)).collect();
    let flag_sets: [&[&str]; 7] = [
        &[],
        &["--k", "1"],
        &["--k", "25", "--batch", "1"],
        &["--filter", r#"{"even": true}"#, "--k", "7"],
        &["--collection", "notes", "--k", "15"],
        &[
            "--collection",
            "notes",
            "--collection",
            "docs",
            "--min-score",
            "0.3",
            "--k",
            "50",
        ],
        &["--attrs", "--filter", r#"{"n": {"$lt": 100}}"#],
    ];
    for flags in flag_sets {
        let mut one = vec!["search", s(&whole), "--queries", s(&q)];
        one.extend_from_slice(flags);
        let single = ok(&one);
        // One store: no "store" key, the documented single-store output.
        assert!(!single.contains("\"store\""), "{single}");
        let mut many = vec!["search"];
        many.extend_from_slice(&shard_args);
        many.extend_from_slice(&["--queries", s(&q)]);
        many.extend_from_slice(flags);
        let merged = ok(&many);

        let (want, got) = (parse(&single), parse(&merged));
        assert_eq!(want.len(), 12);
        assert_eq!(got.len(), want.len());
        for ((wl, wh, _), (gl, gh, partial)) in want.iter().zip(&got) {
            assert_eq!(gl, wl);
            assert!(partial.is_none());
            let strip = |h: &[(String, String, u32, Option<String>)]| {
                h.iter()
                    .map(|(c, id, sc, _)| (c.clone(), id.clone(), *sc))
                    .collect::<Vec<_>>()
            };
            assert_eq!(strip(gh), strip(wh), "{flags:?} query {gl}");
            for (c, id, _, store) in gh {
                let want_store = shard_args[shard_of(c, id, 3)];
                assert_eq!(store.as_deref(), Some(want_store), "{c}/{id}");
            }
        }
        if flags.contains(&"--attrs") {
            assert!(merged.contains("\"store\":") && merged.contains("\"attrs\":{\"even\""));
        }
    }

    // --vector and --like work the same way.
    let like_single = ok(&[
        "search",
        s(&whole),
        "--like",
        "r5",
        "--collection",
        "docs",
        "--k",
        "4",
    ]);
    let mut like = vec!["search"];
    like.extend_from_slice(&shard_args);
    like.extend_from_slice(&["--like", "r5", "--collection", "docs", "--k", "4"]);
    let like_many = ok(&like);
    let (w, g) = (parse(&like_single), parse(&like_many));
    assert_eq!(g[0].1[0].1, "r5");
    assert_eq!(
        g[0].1.iter().map(|h| (&h.1, h.2)).collect::<Vec<_>>(),
        w[0].1.iter().map(|h| (&h.1, h.2)).collect::<Vec<_>>()
    );
    let mut nowhere = vec!["search"];
    nowhere.extend_from_slice(&shard_args);
    nowhere.extend_from_slice(&["--like", "r5", "--collection", "nowhere"]);
    let err = fails(&nowhere);
    assert!(
        err.contains("no record 'r5' in collection 'nowhere' of any store"),
        "{err}"
    );
}

#[test]
fn shards_with_different_dimensions_are_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    let (_, shards) = build(dir.path(), 2);
    let other = dir.path().join("dim3");
    let small = crate::common::small_jsonl(dir.path());
    ok(&["import", s(&other), s(&small)]);
    let o = nidus(&[
        "search",
        s(&shards[0]),
        s(&other),
        s(&shards[1]),
        "--vector",
        "[1,0,0]",
    ]);
    expect_code(&o, 2);
    let err = stderr(&o);
    assert!(
        err.contains("share a dimension")
            && err.contains(&format!("{} has 16", s(&shards[0])))
            && err.contains(&format!("{} has 3", s(&other))),
        "{err}"
    );
}

#[test]
fn a_failing_shard_fails_the_search_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let (_, shards) = build(dir.path(), 3);
    let q = queries(dir.path());
    let missing = dir.path().join("missing");
    let search = |stores: &[&Path], extra: &[&str]| {
        let mut args = vec!["search"];
        args.extend(stores.iter().map(|p| s(p)));
        args.extend_from_slice(&["--queries", s(&q), "--k", "5"]);
        args.extend_from_slice(extra);
        nidus(&args)
    };

    // Missing: exit 1, named, and nothing on stdout.
    let o = search(&[&shards[0], &missing, &shards[2]], &[]);
    expect_code(&o, 1);
    assert!(o.stdout.is_empty());
    let err = stderr(&o);
    assert!(
        err.contains(&format!("cannot search the store {}", s(&missing))),
        "{err}"
    );

    // Corrupt: a flipped byte in its first batch, with more batches after.
    let data = shards[1].join(nidus_format::DATA_FILE);
    let mut bytes = std::fs::read(&data).unwrap();
    bytes[HEADER_LEN + 50] ^= 1;
    std::fs::write(&data, &bytes).unwrap();
    let o = search(&[&shards[0], &shards[1], &shards[2]], &[]);
    expect_code(&o, 1);
    assert!(o.stdout.is_empty());
    let err = stderr(&o);
    assert!(
        err.contains(&format!("cannot search the store {}", s(&shards[1]))),
        "{err}"
    );
    assert!(err.contains("corrupt"), "{err}");

    // --allow-partial: the others answer; stderr and every line say so.
    let o = search(
        &[&shards[0], &shards[1], &shards[2], &missing],
        &["--allow-partial"],
    );
    expect_code(&o, 0);
    let err = stderr(&o);
    assert!(
        err.contains(&format!("leaving out the store {}", s(&shards[1]))),
        "{err}"
    );
    assert!(
        err.contains(&format!("leaving out the store {}", s(&missing))),
        "{err}"
    );
    assert!(err.contains("2 of 4 stores"), "{err}");
    let out = String::from_utf8(o.stdout).unwrap();
    let lines = parse(&out);
    assert_eq!(lines.len(), 12);
    let failed = Json::Array(vec![
        Json::Str(s(&shards[1]).into()),
        Json::Str(s(&missing).into()),
    ]);
    for (l, (_, hits, failed_stores)) in out.lines().zip(&lines) {
        assert!(l.contains("\"partial\":true"), "{l}");
        assert_eq!(failed_stores.as_ref(), Some(&failed));
        assert_eq!(hits.len(), 5);
        for (_, _, _, store) in hits {
            let store = store.as_deref().unwrap();
            assert!(store == s(&shards[0]) || store == s(&shards[2]), "{store}");
        }
    }

    // Nothing left to search is still a failure.
    let o = search(&[&shards[1], &missing], &["--allow-partial"]);
    expect_code(&o, 1);
    assert!(
        stderr(&o).contains("none of the 2 stores"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn the_same_store_twice_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (_, shards) = build(dir.path(), 2);
    let twice = |a: &str, b: &str| {
        let o = nidus(&[
            "search",
            a,
            b,
            "--vector",
            &format!("[{}]", ["1"; 16].join(",")),
        ]);
        expect_code(&o, 2);
        stderr(&o)
    };
    let a = s(&shards[0]);
    let err = twice(a, a);
    assert!(
        err.contains(&format!("the store '{a}' is given twice")),
        "{err}"
    );
    // Another spelling of the same directory.
    let spelled = format!("{a}/../shard0/");
    let err = twice(a, &spelled);
    assert!(err.contains("are the same store"), "{err}");
    // Distinct stores are fine.
    ok(&[
        "search",
        a,
        s(&shards[1]),
        "--vector",
        &format!("[{}]", ["1"; 16].join(",")),
    ]);
}
