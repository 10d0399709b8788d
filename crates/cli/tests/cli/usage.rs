//! `--help`, `--version`, usage errors (exit 2) and failures (exit 1).

use crate::common::{expect_code, nidus, s, stderr, stdout};

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
