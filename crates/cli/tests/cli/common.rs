//! Helpers every test module shares: running the binary, checking its exit
//! code, writing data files, and reading `stats` and `search` output.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use nidus_cli::formats::{self, Format};
use nidus_cli::json::{self, Json};
use nidus_format::Attributes;

/// Runs `nidus` with `args`.
pub fn nidus(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nidus"))
        .args(args)
        .output()
        .expect("the nidus binary runs")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts the exit code, showing the output on failure.
#[track_caller]
pub fn expect_code(o: &Output, code: i32) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        stdout(o),
        stderr(o)
    );
}

pub fn s(p: &Path) -> &str {
    p.to_str().expect("temp paths are UTF-8")
}

/// A JSONL line for `id` with `vector` and raw JSON `attrs`.
pub fn line(id: &str, vector: &[f32], attrs: &str) -> String {
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
pub fn small_jsonl(dir: &Path) -> PathBuf {
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

/// A store at `dir/st` holding the small data set in collection "default".
pub fn small_store(dir: &Path) -> PathBuf {
    let store = dir.join("st");
    ok(&["import", s(&store), s(&small_jsonl(dir))]);
    store
}

/// A store at `dir/st` holding the small data set twice: in collection
/// "default" and in "other".
pub fn small_store_in_two_collections(dir: &Path) -> PathBuf {
    let store = dir.join("st");
    let small = small_jsonl(dir);
    ok(&["import", s(&store), s(&small)]);
    ok(&["import", s(&store), s(&small), "--collection", "other"]);
    store
}

/// Generated rows: `n` pseudo-random vectors of `dim` values.
pub fn rows(n: usize, dim: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = nidus_cli::synth::Rng::new(seed);
    (0..n)
        .map(|_| (0..dim).map(|_| rng.normal()).collect())
        .collect()
}

/// Writes `rows` as JSONL, ids `{id_prefix}0`, `{id_prefix}1`, ..., each
/// with the raw JSON `attrs`.
pub fn write_jsonl(path: &Path, rows: &[Vec<f32>], id_prefix: &str, attrs: &str) {
    let text: String = rows
        .iter()
        .enumerate()
        .map(|(i, v)| line(&format!("{id_prefix}{i}"), v, attrs))
        .collect();
    std::fs::write(path, text).unwrap();
}

pub fn write_file(path: &Path, format: Format, rows: &[Vec<f32>]) {
    let file = std::fs::File::create(path).unwrap();
    let mut w = formats::create_writer(file, format, rows[0].len()).unwrap();
    for (i, r) in rows.iter().enumerate() {
        w.write_row("default", &format!("r{i}"), r, &Attributes::new())
            .unwrap();
    }
    w.finish().unwrap();
}

/// Starts `nidus import STORE FILE --batch BATCH` in the background (stdout
/// discarded), for tests that act while a writer works or kill it.
pub fn spawn_import(store: &Path, file: &Path, batch: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_nidus"))
        .args(["import", s(store), s(file), "--batch", batch])
        .stdout(Stdio::null())
        .spawn()
        .expect("the nidus binary starts")
}

/// Runs a command that must succeed; returns its stdout.
#[track_caller]
pub fn ok(args: &[&str]) -> String {
    let o = nidus(args);
    expect_code(&o, 0);
    stdout(&o)
}

/// Runs a command that must fail with exit 1; returns its stderr.
#[track_caller]
pub fn fails(args: &[&str]) -> String {
    let o = nidus(args);
    expect_code(&o, 1);
    let err = stderr(&o);
    assert!(err.starts_with("error: "), "{err}");
    err
}

/// Runs a command that must exit with `code`; returns its stderr.
#[track_caller]
pub fn exit_stderr(args: &[&str], code: i32) -> String {
    let o = nidus(args);
    expect_code(&o, code);
    stderr(&o)
}

/// Runs a command that must exit with `code` and print nothing on stdout
/// (a refusal, whatever its exit code); returns its stderr.
#[track_caller]
pub fn fails_with(args: &[&str], code: i32) -> String {
    let o = nidus(args);
    expect_code(&o, code);
    assert!(o.stdout.is_empty(), "{args:?}: {}", stdout(&o));
    stderr(&o)
}

pub fn stats(store: &Path) -> Json {
    json::parse(ok(&["stats", s(store), "--json"]).trim()).unwrap()
}

pub fn int(v: Option<&Json>) -> i64 {
    match v {
        Some(Json::Number(n)) => n.as_i64().unwrap(),
        other => panic!("not an integer: {other:?}"),
    }
}

pub fn records(store: &Path) -> i64 {
    int(stats(store).get("records"))
}

/// The record count, or 0 while the store cannot be read yet.
pub fn records_quiet(store: &Path) -> i64 {
    let o = nidus(&["stats", s(store), "--json"]);
    match json::parse(stdout(&o).trim()) {
        Ok(v) if o.status.success() => int(v.get("records")),
        _ => 0,
    }
}

/// One search hit: (collection, id, score).
pub type HitRow = (String, String, f32);

/// Parses search output: one (query label, [(collection, id, score)]) per line.
pub fn results(out: &str) -> Vec<(String, Vec<HitRow>)> {
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

pub fn ids(out: &str) -> Vec<Vec<String>> {
    results(out)
        .into_iter()
        .map(|(_, hits)| hits.into_iter().map(|(_, id, _)| id).collect())
        .collect()
}
