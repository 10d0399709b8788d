//! What every suite shares: a tiny seeded RNG, the soak factor, temp dirs,
//! and child processes (this test binary re-executed in a role) that talk to
//! the parent in `@@ `-prefixed lines on stdout.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// The environment variable that selects a child process's role.
pub const ROLE_ENV: &str = "NIDUS_RELIABILITY_ROLE";

/// Prefix of protocol lines (anything else on stdout is libtest chatter).
const PROTOCOL: &str = "@@ ";

/// The seeded generator every suite shares (xorshift64*, in nidus-testkit).
pub use nidus_testkit::Rng;

/// How much bigger than the default run to make every count:
/// `NIDUS_SOAK=<factor>` (a non-number means 10), 1 when unset.
pub fn soak() -> usize {
    match std::env::var("NIDUS_SOAK") {
        Ok(v) if v.trim().is_empty() || v == "0" => 1,
        Ok(v) => v.trim().parse().unwrap_or(10).max(1),
        Err(_) => 1,
    }
}

/// The base seed of every suite: `NIDUS_SEED`, else a fixed value.
pub fn base_seed() -> u64 {
    std::env::var("NIDUS_SEED")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0x006E_6964_7573)
}

/// A fresh temporary directory (removed on drop).
pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("nidus-rel-")
        .tempdir()
        .expect("a temporary directory")
}

/// Copies every regular file of `from` into `to` (created if missing).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create dir");
    for e in std::fs::read_dir(from).expect("read dir") {
        let e = e.expect("dir entry");
        if e.file_type().expect("file type").is_file() {
            std::fs::copy(e.path(), to.join(e.file_name())).expect("copy file");
        }
    }
}

/// The data file of the store in `dir`.
pub fn data_path(dir: &Path) -> std::path::PathBuf {
    dir.join(nidus::format::DATA_FILE)
}

/// Prints one protocol line to stdout and flushes it, so the parent sees
/// it before anything the child does next.
pub fn emit(line: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{PROTOCOL}{line}").expect("stdout");
    out.flush().expect("stdout");
}

/// A child process: this test binary running one role.
pub struct ChildProc {
    /// The process.
    pub child: Child,
    lines: Receiver<String>,
}

/// Starts this test binary in `role` with extra environment `env`. Its
/// protocol lines arrive through [`ChildProc::line`].
pub fn spawn_child(role: &str, env: &[(&str, String)]) -> ChildProc {
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut cmd = Command::new(exe);
    cmd.args([
        "support::child_entry",
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
        "-q",
    ])
    .env(ROLE_ENV, role)
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::inherit());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawning a child test process");
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if let Some(rest) = line.strip_prefix(PROTOCOL)
                && tx.send(rest.to_owned()).is_err()
            {
                break;
            }
        }
    });
    ChildProc { child, lines: rx }
}

impl ChildProc {
    /// The next protocol line, `None` once the child closed stdout. Panics
    /// (naming `what`) if nothing arrives within `timeout`.
    pub fn line(&self, timeout: Duration, what: &str) -> Option<String> {
        match self.lines.recv_timeout(timeout) {
            Ok(l) => Some(l),
            Err(RecvTimeoutError::Disconnected) => None,
            Err(RecvTimeoutError::Timeout) => {
                panic!(
                    "child {} sent nothing for {timeout:?} ({what})",
                    self.child.id()
                )
            }
        }
    }

    /// SIGKILLs the child, reaps it, and returns every protocol line it had
    /// printed but the parent had not read yet.
    pub fn kill_and_drain(mut self) -> Vec<String> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let mut rest = Vec::new();
        while let Ok(l) = self.lines.recv_timeout(Duration::from_secs(10)) {
            rest.push(l);
        }
        rest
    }

    /// Waits (at most `timeout`, then kills) for the child to exit; returns
    /// whether it succeeded and its remaining lines.
    pub fn finish(mut self, timeout: Duration) -> (bool, Vec<String>) {
        let start = Instant::now();
        let mut rest = Vec::new();
        loop {
            match self.lines.recv_timeout(Duration::from_millis(50)) {
                Ok(l) => rest.push(l),
                Err(RecvTimeoutError::Disconnected) => break,
                Err(RecvTimeoutError::Timeout) => {}
            }
            if start.elapsed() > timeout {
                let _ = self.child.kill();
                let _ = self.child.wait();
                rest.push(format!("TIMEOUT after {timeout:?}"));
                return (false, rest);
            }
        }
        let status = self.child.wait().expect("waiting for a child");
        (status.success(), rest)
    }
}

/// The entry point of every child process: does nothing in a normal run
/// (it is ignored, and without a role it returns at once).
#[test]
#[ignore = "the entry point of child processes; runs only with NIDUS_RELIABILITY_ROLE set"]
fn child_entry() {
    let Ok(role) = std::env::var(ROLE_ENV) else {
        return;
    };
    match role.as_str() {
        "crash-writer" => super::crash::writer_child(),
        "hostile" => super::hostile::fuzz_child(),
        "concurrent-writer" => super::concurrency::writer_child(),
        "concurrent-reader" => super::concurrency::reader_child(),
        "lock-holder" => super::locks::holder_child(),
        other => panic!("unknown child role {other:?}"),
    }
}

/// Reads an environment variable a child needs.
pub fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("child needs {name}"))
}

/// Reads a numeric environment variable a child needs.
pub fn env_u64(name: &str) -> u64 {
    env(name)
        .parse()
        .unwrap_or_else(|_| panic!("{name} must be a number"))
}
