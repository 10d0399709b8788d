//! Standard input and output: `-` as a file, pipes, and a closed stdout.

use std::process::{Command, Output};

use nidus_cli::formats::Format;

use crate::common::{
    expect_code, fails, ids, nidus, rows, s, small_jsonl, small_store, stderr, stdout, write_file,
};

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
fn a_closed_stdout_is_a_quiet_success() {
    let dir = tempfile::tempdir().unwrap();
    let store = small_store(dir.path());
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
