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
            "--batch must be at least 1",
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
