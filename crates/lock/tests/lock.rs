//! Behaviour of the write lock across handles, threads and processes.
//!
//! Multi-process tests re-execute this test binary: the child runs the
//! ignored test `child_process_entry` with `NIDUS_LOCK_CHILD` naming its role.

use std::env;
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Barrier;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nidus_lock::{LockError, LockMode, LockOptions, WriteLock};

const CHILD_ENV: &str = "NIDUS_LOCK_CHILD";
const DIR_ENV: &str = "NIDUS_LOCK_DIR";
const MODE_ENV: &str = "NIDUS_LOCK_MODE";
const ITERS_ENV: &str = "NIDUS_LOCK_ITERS";
const LOG_ENV: &str = "NIDUS_LOCK_LOG";
const TTL_MS_ENV: &str = "NIDUS_LOCK_TTL_MS";
const LOCKED_MARKER: &str = "NIDUS-CHILD-LOCKED";

const MODES: [LockMode; 2] = [LockMode::OsLock, LockMode::ExclusiveCreate];

fn mode_name(mode: LockMode) -> &'static str {
    match mode {
        LockMode::OsLock => "os",
        LockMode::ExclusiveCreate => "excl",
        _ => "auto",
    }
}

fn mode_from_name(name: &str) -> LockMode {
    match name {
        "os" => LockMode::OsLock,
        "excl" => LockMode::ExclusiveCreate,
        _ => LockMode::Auto,
    }
}

fn options(mode: LockMode, ttl: Duration) -> LockOptions {
    LockOptions::new(ttl).with_mode(mode)
}

const LONG_TTL: Duration = Duration::from_secs(3600);

fn acquire(dir: &Path, mode: LockMode) -> Result<WriteLock, LockError> {
    WriteLock::acquire_with(dir, &options(mode, LONG_TTL))
}

/// Acquires, retrying while someone else holds the lock.
fn acquire_spinning(dir: &Path, opts: &LockOptions) -> WriteLock {
    loop {
        match WriteLock::acquire_with(dir, opts) {
            Ok(lock) => return lock,
            Err(LockError::Locked { .. }) => thread::sleep(Duration::from_micros(200)),
            Err(e) => panic!("acquire failed: {e}"),
        }
    }
}

fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

fn expect_locked(result: Result<WriteLock, LockError>) -> (LockError, Option<u32>) {
    match result {
        Err(e @ LockError::Locked { .. }) => {
            let pid = match &e {
                LockError::Locked { holder, .. } => holder.as_ref().map(|h| h.pid),
                _ => unreachable!(),
            };
            (e, pid)
        }
        Err(e) => panic!("expected Locked, got error {e}"),
        Ok(lock) => panic!("expected Locked, got a lock: {lock:?}"),
    }
}

// ---------------------------------------------------------------- children --

/// Entry point for child processes; a no-op when run directly.
#[test]
#[ignore = "entry point of the child processes spawned by the multi-process tests"]
fn child_process_entry() {
    let Ok(role) = env::var(CHILD_ENV) else {
        return;
    };
    let dir = PathBuf::from(env::var(DIR_ENV).unwrap());
    let mode = mode_from_name(&env::var(MODE_ENV).unwrap());
    let ttl = Duration::from_millis(env::var(TTL_MS_ENV).map_or(3_600_000, |v| v.parse().unwrap()));
    let opts = options(mode, ttl);
    match role.as_str() {
        "contend" => contend(&dir, &opts),
        "hold" => {
            let lock = WriteLock::acquire_with(&dir, &opts).expect("child acquire");
            println!("{LOCKED_MARKER} {}", lock.holder().pid);
            std::io::stdout().flush().unwrap();
            // The parent kills us long before this ends.
            thread::sleep(Duration::from_secs(60));
        }
        other => panic!("unknown child role {other}"),
    }
}

/// Loops acquire / hold / release, logging each hold interval, and bumps a
/// shared counter with a non-atomic read-modify-write while holding the lock.
fn contend(dir: &Path, opts: &LockOptions) {
    let iters: usize = env::var(ITERS_ENV).unwrap().parse().unwrap();
    let mut log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(env::var(LOG_ENV).unwrap())
        .unwrap();
    let counter = dir.join("counter");
    for i in 0..iters {
        let lock = acquire_spinning(dir, opts);
        let start = now_ns();
        let n: u64 = fs::read_to_string(&counter)
            .map(|s| s.trim().parse().unwrap())
            .unwrap_or(0);
        if i % 3 == 0 {
            thread::sleep(Duration::from_micros(300));
        }
        fs::write(&counter, (n + 1).to_string()).unwrap();
        lock.verify().expect("lock lost while held");
        let end = now_ns();
        drop(lock);
        writeln!(log, "{start} {end}").unwrap();
    }
}

fn child(role: &str, dir: &Path, mode: LockMode) -> Command {
    let mut cmd = Command::new(env::current_exe().unwrap());
    cmd.args([
        "--exact",
        "child_process_entry",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(CHILD_ENV, role)
    .env(DIR_ENV, dir)
    .env(MODE_ENV, mode_name(mode));
    cmd
}

/// Kills and reaps a child however the test ends.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts a child that takes the lock and holds it until killed; returns once
/// it holds the lock, with its pid.
fn spawn_holder(dir: &Path, mode: LockMode, ttl: Duration) -> (Reaped, u32) {
    let mut cmd = child("hold", dir, mode);
    cmd.env(TTL_MS_ENV, ttl.as_millis().to_string())
        .stdout(Stdio::piped());
    let mut child = Reaped(cmd.spawn().unwrap());
    let stdout = child.0.stdout.take().unwrap();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        // libtest may print "test child_process_entry ... " on the same line.
        if let Some(at) = line.find(LOCKED_MARKER) {
            let pid: u32 = line[at + LOCKED_MARKER.len()..].trim().parse().unwrap();
            assert_eq!(pid, child.0.id());
            return (child, pid);
        }
    }
    panic!("holder child exited before taking the lock");
}

// ------------------------------------------------------- seed behaviour --

#[test]
fn acquire_creates_the_lock_file_with_a_record_naming_us() {
    for mode in MODES {
        let dir = tempfile::tempdir().unwrap();
        let lock = acquire(dir.path(), mode).unwrap();
        assert_eq!(lock.path(), dir.path().join("lock"));
        assert_eq!(lock.mode(), mode);
        let text = fs::read_to_string(lock.path()).unwrap();
        assert!(text.starts_with("nidus-lock 1\n"), "{text}");
        assert!(
            text.contains(&format!("\npid {}\n", std::process::id())),
            "{text}"
        );
        assert_eq!(lock.holder().pid, std::process::id());
    }
}

#[test]
fn auto_mode_uses_the_os_lock_where_supported() {
    let dir = tempfile::tempdir().unwrap();
    let lock = WriteLock::acquire(dir.path(), LONG_TTL).unwrap();
    assert_eq!(lock.mode(), LockMode::OsLock);
}

#[test]
fn second_acquire_fails_while_the_first_is_alive_and_names_path_and_holder() {
    for first in MODES {
        for second in [LockMode::Auto, LockMode::OsLock, LockMode::ExclusiveCreate] {
            let dir = tempfile::tempdir().unwrap();
            let _held = acquire(dir.path(), first).unwrap();
            let (err, pid) = expect_locked(acquire(dir.path(), second));
            let msg = err.to_string();
            let path = dir.path().join("lock");
            assert!(
                msg.starts_with(&format!("store is locked: {}", path.display())),
                "{msg}"
            );
            assert!(
                msg.contains(&format!("held by pid {} on host ", std::process::id()))
                    && msg.contains(" since ")
                    && msg.contains(" UTC, nidus "),
                "{msg}"
            );
            assert_eq!(pid, Some(std::process::id()), "{first:?} then {second:?}");
            assert_eq!(err.path(), Some(path.as_path()));
        }
    }
}

#[test]
fn drop_removes_the_file_and_a_later_acquire_succeeds() {
    for mode in MODES {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lock");
        let lock = acquire(dir.path(), mode).unwrap();
        drop(lock);
        assert!(!path.exists());
        let again = acquire(dir.path(), mode).unwrap();
        assert!(path.exists());
        again.release().unwrap();
        assert!(!path.exists());
    }
}

#[test]
fn a_missing_directory_is_an_io_error_naming_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope");
    for mode in MODES {
        match acquire(&missing, mode) {
            Err(e @ LockError::Io { .. }) => {
                assert!(
                    e.to_string()
                        .contains(&missing.join("lock").display().to_string())
                );
            }
            other => panic!("expected Io, got {other:?}"),
        }
    }
}

#[test]
fn a_huge_ttl_neither_overflows_nor_hangs_release() {
    for mode in MODES {
        let dir = tempfile::tempdir().unwrap();
        let lock = WriteLock::acquire_with(dir.path(), &options(mode, Duration::MAX)).unwrap();
        expect_locked(WriteLock::acquire_with(
            dir.path(),
            &options(mode, Duration::MAX),
        ));
        lock.release().unwrap();
    }
}

#[test]
fn zero_ttl_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        WriteLock::acquire(dir.path(), Duration::ZERO),
        Err(LockError::InvalidTtl { .. })
    ));
}

// ------------------------------------------------- crashes and the TTL --

#[test]
fn a_holder_older_than_the_ttl_is_not_stolen_and_a_killed_one_frees_the_lock_at_once() {
    let ttl = Duration::from_millis(100);
    for mode in MODES {
        let dir = tempfile::tempdir().unwrap();
        let (mut holder, pid) = spawn_holder(dir.path(), mode, ttl);
        // Well past the TTL: a live holder keeps its lock however old.
        thread::sleep(ttl * 3);
        let (err, named) = expect_locked(WriteLock::acquire_with(dir.path(), &options(mode, ttl)));
        assert_eq!(named, Some(pid), "{mode:?}: {err}");
        // SIGKILL: no destructor runs, the lock file stays behind.
        holder.0.kill().unwrap();
        holder.0.wait().unwrap();
        assert!(dir.path().join("lock").exists());
        // A single attempt, with a TTL far longer than the test, succeeds.
        let lock = WriteLock::acquire_with(dir.path(), &options(mode, LONG_TTL))
            .unwrap_or_else(|e| panic!("{mode:?}: {e}"));
        assert_eq!(lock.holder().pid, std::process::id());
    }
}

#[test]
fn a_leftover_lock_file_from_a_dead_process_is_reclaimed() {
    for mode in MODES {
        let dir = tempfile::tempdir().unwrap();
        let record = own_record(dir.path(), mode);
        let dead = dead_pid();
        fs::write(
            dir.path().join("lock"),
            set_field(&record, "pid", &dead.to_string()),
        )
        .unwrap();
        let lock = acquire(dir.path(), mode).unwrap();
        let text = fs::read_to_string(lock.path()).unwrap();
        assert!(text.contains(&format!("\npid {}\n", std::process::id())));
    }
}

// ---------------------------------------------------- mutual exclusion --

#[test]
fn processes_contending_never_hold_the_lock_at_once() {
    const CHILDREN: usize = 3;
    const ITERS: usize = 40;
    for mode in [LockMode::Auto, LockMode::ExclusiveCreate] {
        let dir = tempfile::tempdir().unwrap();
        let logs: Vec<PathBuf> = (0..CHILDREN)
            .map(|i| dir.path().join(format!("log{i}")))
            .collect();
        let children: Vec<Reaped> = logs
            .iter()
            .map(|log| {
                let mut cmd = child("contend", dir.path(), mode);
                cmd.env(ITERS_ENV, ITERS.to_string())
                    .env(LOG_ENV, log)
                    .stdout(Stdio::null());
                Reaped(cmd.spawn().unwrap())
            })
            .collect();
        for mut c in children {
            let status = c.0.wait().unwrap();
            assert!(status.success(), "{mode:?}: child failed: {status}");
        }
        let mut intervals: Vec<(u128, u128)> = Vec::new();
        for log in &logs {
            for line in fs::read_to_string(log).unwrap().lines() {
                let (s, e) = line.split_once(' ').unwrap();
                intervals.push((s.parse().unwrap(), e.parse().unwrap()));
            }
        }
        assert_eq!(intervals.len(), CHILDREN * ITERS);
        intervals.sort();
        for pair in intervals.windows(2) {
            assert!(
                pair[0].1 < pair[1].0,
                "{mode:?}: hold intervals overlap: {:?} and {:?}",
                pair[0],
                pair[1]
            );
        }
        let count: usize = fs::read_to_string(dir.path().join("counter"))
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(count, CHILDREN * ITERS, "{mode:?}: lost updates");
        assert!(!dir.path().join("lock").exists());
    }
}

/// The unlink race: release removes the file while others have it open.
/// Threads open the file separately, so each has its own open file
/// description and contends like a separate process would.
#[test]
fn threads_acquiring_and_dropping_in_a_loop_never_hold_at_once() {
    const THREADS: usize = 4;
    const HOLDS_PER_THREAD: usize = 50;
    for mode in MODES {
        let dir = tempfile::tempdir().unwrap();
        let inside = AtomicUsize::new(0);
        let opts = options(mode, LONG_TTL);
        thread::scope(|s| {
            for _ in 0..THREADS {
                let (inside, opts, dir) = (&inside, &opts, dir.path());
                s.spawn(move || {
                    let mut holds = 0;
                    let mut attempts = 0u64;
                    while holds < HOLDS_PER_THREAD {
                        attempts += 1;
                        assert!(attempts < 10_000_000, "{mode:?}: no progress");
                        match WriteLock::acquire_with(dir, opts) {
                            Ok(lock) => {
                                assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0, "two holders");
                                thread::yield_now();
                                lock.verify().unwrap();
                                inside.fetch_sub(1, Ordering::SeqCst);
                                drop(lock);
                                holds += 1;
                            }
                            Err(LockError::Locked { .. }) => thread::yield_now(),
                            Err(e) => panic!("{mode:?}: {e}"),
                        }
                    }
                });
            }
        });
        assert!(!dir.path().join("lock").exists());
    }
}

// ------------------------------------------------------- fallback rules --

/// A record as this process writes it, to be edited into other holders.
fn own_record(dir: &Path, mode: LockMode) -> String {
    let lock = acquire(dir, mode).unwrap();
    let text = fs::read_to_string(lock.path()).unwrap();
    lock.release().unwrap();
    text
}

fn set_field(record: &str, key: &str, value: &str) -> String {
    let mut out = String::new();
    let mut found = false;
    for line in record.lines() {
        if line.split_once(' ').is_some_and(|(k, _)| k == key) {
            out.push_str(&format!("{key} {value}\n"));
            found = true;
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    assert!(found, "no {key} field in {record}");
    out
}

fn field<'a>(record: &'a str, key: &str) -> &'a str {
    record
        .lines()
        .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix(' ')))
        .unwrap()
}

/// The pid of a process that has exited and been reaped.
fn dead_pid() -> u32 {
    let mut c = Command::new("true").spawn().unwrap();
    let pid = c.id();
    c.wait().unwrap();
    pid
}

fn write_lock_file(dir: &Path, content: &str, age: Duration) {
    let path = dir.join("lock");
    fs::write(&path, content).unwrap();
    let f = File::options().write(true).open(&path).unwrap();
    f.set_modified(SystemTime::now() - age).unwrap();
}

#[test]
fn fallback_same_host_liveness_follows_pid_and_start_time() {
    let dir = tempfile::tempdir().unwrap();
    let excl = LockMode::ExclusiveCreate;
    let ours = own_record(dir.path(), excl);
    let old = Duration::from_secs(7200); // far beyond any TTL used here

    // Our own pid with our start time: alive, however old the file.
    write_lock_file(dir.path(), &ours, old);
    let (_, pid) = expect_locked(acquire(dir.path(), excl));
    assert_eq!(pid, Some(std::process::id()));

    // Same pid, different start time: the pid was reused, the holder is dead.
    if field(&ours, "start") != "-" {
        let start: u64 = field(&ours, "start").parse().unwrap();
        write_lock_file(
            dir.path(),
            &set_field(&ours, "start", &(start + 1).to_string()),
            Duration::ZERO,
        );
        acquire(dir.path(), excl)
            .expect("reused pid must be reclaimable")
            .release()
            .unwrap();
    }

    // A pid that has exited: dead, even though the file is brand new.
    write_lock_file(
        dir.path(),
        &set_field(&ours, "pid", &dead_pid().to_string()),
        Duration::ZERO,
    );
    acquire(dir.path(), excl)
        .expect("dead pid must be reclaimable")
        .release()
        .unwrap();

    // Same host name, different boot: cannot tell a reboot from a namesake
    // machine, so the TTL decides.
    if field(&ours, "boot") != "-" {
        let other_boot = set_field(&ours, "boot", "00000000-0000-0000-0000-000000000000");
        write_lock_file(dir.path(), &other_boot, Duration::ZERO);
        expect_locked(acquire(dir.path(), excl));
        write_lock_file(dir.path(), &other_boot, old);
        acquire(dir.path(), excl).unwrap().release().unwrap();
    }
}

#[test]
fn fallback_other_host_holders_are_judged_by_the_ttl() {
    let dir = tempfile::tempdir().unwrap();
    let excl = LockMode::ExclusiveCreate;
    let ttl = Duration::from_secs(60);
    let remote = set_field(&own_record(dir.path(), excl), "host", "elsewhere.invalid");

    write_lock_file(dir.path(), &remote, Duration::from_secs(30));
    let (err, _) = expect_locked(WriteLock::acquire_with(dir.path(), &options(excl, ttl)));
    assert!(
        err.to_string().contains("on host elsewhere.invalid"),
        "{err}"
    );

    // A modification time in the future (clock skew) never counts as stale.
    let path = dir.path().join("lock");
    File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(SystemTime::now() + Duration::from_secs(600))
        .unwrap();
    expect_locked(WriteLock::acquire_with(dir.path(), &options(excl, ttl)));

    write_lock_file(dir.path(), &remote, Duration::from_secs(61));
    let lock = WriteLock::acquire_with(dir.path(), &options(excl, ttl)).unwrap();
    assert_eq!(lock.holder().pid, std::process::id());
}

#[test]
fn fallback_remote_holder_is_kept_alive_by_its_heartbeat_and_expires_after_death() {
    let excl = LockMode::ExclusiveCreate;
    let ttl = Duration::from_millis(300);
    let dir = tempfile::tempdir().unwrap();
    let (mut holder, _) = spawn_holder(dir.path(), excl, ttl);
    // Make the live holder look remote: only its heartbeat can keep it.
    let path = dir.path().join("lock");
    let record = fs::read_to_string(&path).unwrap();
    fs::write(&path, set_field(&record, "host", "elsewhere.invalid")).unwrap();
    thread::sleep(ttl * 3);
    let (err, _) = expect_locked(WriteLock::acquire_with(dir.path(), &options(excl, ttl)));
    assert!(err.to_string().contains("elsewhere.invalid"), "{err}");

    holder.0.kill().unwrap();
    holder.0.wait().unwrap();
    // Dead and remote: free once the TTL has passed since its last beat.
    let mut tries = 0;
    let lock = loop {
        match WriteLock::acquire_with(dir.path(), &options(excl, ttl)) {
            Ok(lock) => break lock,
            Err(LockError::Locked { .. }) if tries < 200 => {
                tries += 1;
                thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(lock.holder().pid, std::process::id());
}

#[test]
fn a_live_holder_refreshes_its_lock_file() {
    for mode in MODES {
        let dir = tempfile::tempdir().unwrap();
        let ttl = Duration::from_millis(200);
        let lock = WriteLock::acquire_with(dir.path(), &options(mode, ttl)).unwrap();
        let f = File::options().write(true).open(lock.path()).unwrap();
        f.set_modified(SystemTime::now() - Duration::from_secs(3600))
            .unwrap();
        // Several refresh periods (ttl / 4) later, the time is fresh again.
        thread::sleep(ttl);
        let age = SystemTime::now()
            .duration_since(fs::metadata(lock.path()).unwrap().modified().unwrap())
            .unwrap_or_default();
        assert!(
            age < Duration::from_secs(60),
            "{mode:?}: not refreshed, age {age:?}"
        );
    }
}

#[test]
fn os_mode_respects_a_live_fallback_holder() {
    let dir = tempfile::tempdir().unwrap();
    let _fallback = acquire(dir.path(), LockMode::ExclusiveCreate).unwrap();
    let (_, pid) = expect_locked(acquire(dir.path(), LockMode::OsLock));
    assert_eq!(pid, Some(std::process::id()));
}

#[test]
fn exactly_one_of_many_concurrent_reclaimers_wins() {
    const THREADS: usize = 6;
    let dir = tempfile::tempdir().unwrap();
    let excl = LockMode::ExclusiveCreate;
    let stale = set_field(
        &own_record(dir.path(), excl),
        "pid",
        &dead_pid().to_string(),
    );
    for round in 0..30 {
        write_lock_file(dir.path(), &stale, Duration::ZERO);
        let start = Barrier::new(THREADS);
        let done = Barrier::new(THREADS);
        let winners = AtomicUsize::new(0);
        thread::scope(|s| {
            for _ in 0..THREADS {
                s.spawn(|| {
                    start.wait();
                    let result = acquire(dir.path(), excl);
                    match &result {
                        Ok(_) => {
                            winners.fetch_add(1, Ordering::SeqCst);
                        }
                        Err(LockError::Locked { .. }) => {}
                        Err(e) => panic!("round {round}: {e}"),
                    }
                    // Winners hold on until every thread has tried.
                    done.wait();
                    drop(result);
                });
            }
        });
        assert_eq!(winners.load(Ordering::SeqCst), 1, "round {round}");
        let leftovers: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.starts_with("lock"))
            .collect();
        assert!(
            leftovers.is_empty(),
            "round {round}: left behind {leftovers:?}"
        );
    }
}

// --------------------------------------------------------- bad content --

#[test]
fn a_garbage_lock_file_is_reported_and_left_alone() {
    let garbage = "1234\n1764409258\n"; // e.g. an older tool's pid + timestamp
    for mode in [LockMode::Auto, LockMode::OsLock, LockMode::ExclusiveCreate] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lock");
        write_lock_file(dir.path(), garbage, Duration::from_secs(7200));
        match acquire(dir.path(), mode) {
            Err(e @ LockError::Unparseable { .. }) => {
                let msg = e.to_string();
                assert!(msg.contains(&path.display().to_string()), "{msg}");
                assert!(msg.contains("1234\\n"), "{msg}");
            }
            other => panic!("{mode:?}: expected Unparseable, got {other:?}"),
        }
        assert_eq!(fs::read_to_string(&path).unwrap(), garbage, "{mode:?}");
    }
}

#[test]
fn a_garbage_lock_file_under_a_held_os_lock_reports_locked_without_a_holder() {
    let dir = tempfile::tempdir().unwrap();
    write_lock_file(dir.path(), "not a lock record", Duration::ZERO);
    let other = File::options()
        .read(true)
        .write(true)
        .open(dir.path().join("lock"))
        .unwrap();
    other.lock().unwrap();
    let (err, pid) = expect_locked(acquire(dir.path(), LockMode::Auto));
    assert_eq!(pid, None);
    assert!(err.to_string().starts_with("store is locked: "), "{err}");
}

#[test]
fn an_empty_lock_file_is_a_crashed_creation() {
    // OS-lock mode: the OS lock is free, so its creator is gone.
    let dir = tempfile::tempdir().unwrap();
    write_lock_file(dir.path(), "", Duration::ZERO);
    acquire(dir.path(), LockMode::OsLock)
        .unwrap()
        .release()
        .unwrap();

    // Fallback: maybe being written right now, so only the TTL frees it.
    let ttl = Duration::from_secs(60);
    let excl = options(LockMode::ExclusiveCreate, ttl);
    write_lock_file(dir.path(), "", Duration::ZERO);
    let (err, pid) = expect_locked(WriteLock::acquire_with(dir.path(), &excl));
    assert_eq!(pid, None, "{err}");
    write_lock_file(dir.path(), "nidus-lock 1\npid 12", Duration::from_secs(61));
    WriteLock::acquire_with(dir.path(), &excl)
        .unwrap()
        .release()
        .unwrap();
}

// ----------------------------------------------------- losing the lock --

#[test]
fn a_lock_removed_behind_our_back_is_lost_and_drop_spares_the_new_holder() {
    for mode in MODES {
        let dir = tempfile::tempdir().unwrap();
        let first = acquire(dir.path(), mode).unwrap();
        fs::remove_file(first.path()).unwrap();
        assert!(matches!(first.verify(), Err(LockError::Lost { .. })));
        let second = acquire(dir.path(), mode).unwrap();
        assert!(
            matches!(first.release(), Err(LockError::Lost { .. })),
            "{mode:?}"
        );
        assert!(
            second.path().exists(),
            "{mode:?}: drop removed another holder's file"
        );
        second.verify().unwrap();
    }
}
