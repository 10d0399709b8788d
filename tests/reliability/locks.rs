//! Writer exclusion between processes (SPEC.md §6.3): a second writer fails
//! at once with "store locked" naming the holder's pid; readers are never
//! refused; a SIGKILLed writer's lock is taken by the next writer at once,
//! whether it died idle or in the middle of writing.

use std::time::{Duration, Instant};

use nidus::{ErrorKind, Options, Record, Store};

use super::support::{ChildProc, Rng, base_seed, emit, env, soak, spawn_child, tempdir};

const DIM: usize = 4;

/// Child role `lock-holder`: opens the store for writing and reports
/// `locked <pid>` or `refused <message>`; a holder then writes batches
/// (`NIDUS_LOCK_WRITE=1`, printing `ack <n>`) or idles until killed.
pub fn holder_child() {
    let dir = env("NIDUS_DIR");
    let write = env("NIDUS_LOCK_WRITE") == "1";
    let mut store = match Store::open(&dir, Options::new(DIM)) {
        Ok(s) => s,
        Err(e) if e.kind() == ErrorKind::Locked => {
            emit(format_args!("refused {}", e.to_string().replace('\n', " ")));
            return;
        }
        Err(e) => panic!("lock holder: {e}"),
    };
    emit(format_args!("locked {}", std::process::id()));
    let mut rng = Rng::new(u64::from(std::process::id()));
    for n in 0u64.. {
        if write {
            let recs: Vec<Record> = (0..rng.range(1, 500))
                .map(|i| {
                    Record::new(
                        format!("p{}-{n}-{i}", std::process::id()),
                        [1.0, 2.0, 3.0, i as f32],
                    )
                })
                .collect();
            store.upsert("held", &recs).expect("the holder writes");
            emit(format_args!("ack {n}"));
        } else {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn holder(dir: &std::path::Path, write: bool) -> ChildProc {
    spawn_child(
        "lock-holder",
        &[
            ("NIDUS_DIR", dir.display().to_string()),
            ("NIDUS_LOCK_WRITE", if write { "1" } else { "0" }.to_owned()),
        ],
    )
}

const WAIT: Duration = Duration::from_secs(60);

#[test]
fn a_second_writer_is_refused_at_once_and_a_killed_writers_lock_is_free_at_once() {
    let tmp = tempdir();
    let dir = tmp.path();
    let rounds = 6 * soak();
    let mut rng = Rng::new(base_seed() ^ 0x10C4);
    let mut takeovers = 0;
    for round in 0..rounds {
        let write = round % 2 == 1;
        let first = holder(dir, write);
        let line = first
            .line(WAIT, "first holder")
            .expect("first holder reports");
        let pid = first.child.id();
        assert_eq!(line, format!("locked {pid}"), "round {round}");

        // Another process is refused, naming the holder.
        let second = holder(dir, false);
        let line = second
            .line(WAIT, "second writer")
            .expect("second writer reports");
        assert!(line.starts_with("refused "), "round {round}: {line}");
        assert!(line.contains("store locked"), "round {round}: {line}");
        assert!(
            line.contains(&format!("pid {pid}")),
            "round {round}: {line} does not name pid {pid}"
        );
        let (ok, _) = second.finish(WAIT);
        assert!(ok, "round {round}: the refused writer failed");

        // So is this process, at once; a reader is not.
        let t = Instant::now();
        let e = Store::open(dir, Options::new(DIM)).expect_err("a second writer must be refused");
        assert_eq!(e.kind(), ErrorKind::Locked, "{e}");
        assert!(e.to_string().contains("store locked"), "{e}");
        assert!(e.to_string().contains(&format!("pid {pid}")), "{e}");
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "refusal took {:?}",
            t.elapsed()
        );
        Store::open(dir, Options::existing().read_only()).expect("readers take no lock");

        // Kill the holder (idle, or after some acknowledged writes):
        // the next writer gets the lock on its first try.
        if write {
            for _ in 0..rng.range(1, 5) {
                first.line(WAIT, "holder writes");
            }
            std::thread::sleep(Duration::from_micros(rng.below(3000) as u64));
        }
        first.kill_and_drain();
        let t = Instant::now();
        let store = Store::open(dir, Options::new(DIM)).unwrap_or_else(|e| {
            panic!("round {round}: the killed writer's lock was not free: {e}")
        });
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "takeover took {:?}",
            t.elapsed()
        );
        takeovers += 1;
        drop(store);
    }
    eprintln!("locks: {rounds} holders killed, {takeovers} immediate takeovers");
}

#[test]
fn of_writers_racing_for_one_store_exactly_one_wins() {
    let tmp = tempdir();
    let dir = tmp.path();
    Store::open(dir, Options::new(DIM)).expect("create");
    for round in 0..3 * soak() {
        let racers: Vec<ChildProc> = (0..4).map(|_| holder(dir, false)).collect();
        let mut winners = Vec::new();
        let mut refused = 0;
        for r in &racers {
            let line = r.line(WAIT, "racer").expect("every racer reports");
            if line.starts_with("locked ") {
                winners.push(line);
            } else {
                assert!(
                    line.starts_with("refused ") && line.contains("store locked"),
                    "{line}"
                );
                refused += 1;
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: winners {winners:?}");
        assert_eq!(refused, 3);
        for r in racers {
            r.kill_and_drain();
        }
    }
}

/// Lock files a crash, another tool or damage left behind: an open never
/// panics or hangs on them; a record cut short (or empty, or zeros) is a
/// dead holder's and is taken over; anything else is refused with an error
/// naming the lock file, and the file is left for an operator.
#[test]
fn hostile_lock_files_are_taken_over_or_refused_by_name() {
    let tmp = tempdir();
    let dir = tmp.path();
    drop(Store::open(dir, Options::new(DIM)).expect("create"));
    // A real record, left by a SIGKILLed holder.
    let holder = holder(dir, false);
    holder.line(WAIT, "holder").expect("holder reports");
    let record = std::fs::read(dir.join("lock")).expect("the holder's lock file");
    holder.kill_and_drain();
    let lock = dir.join("lock");
    let mut rng = Rng::new(base_seed() ^ 0x10CF);
    let (mut taken, mut refused) = (0, 0);
    let fixed: Vec<Vec<u8>> = vec![
        Vec::new(),
        vec![0; 64],
        b"nidus-lock 1\npid 12".to_vec(),
        b"garbage, not a lock record\n".to_vec(),
        vec![b'x'; 10 << 20],
        record.clone(),
    ];
    for case in 0..fixed.len() + 300 * soak() {
        let bytes = fixed.get(case).cloned().unwrap_or_else(|| {
            let mut b = record.clone();
            match rng.below(3) {
                0 => b.truncate(rng.below(b.len())),
                1 => {
                    let at = rng.below(b.len());
                    b[at] ^= 1 << rng.below(8);
                }
                _ => {
                    let at = rng.below(b.len());
                    b[at] = *rng.pick(&[b'\n', 0, b' ', 0xFF]);
                }
            }
            b
        });
        std::fs::write(&lock, &bytes).unwrap();
        let t = Instant::now();
        let opened = Store::open(dir, Options::new(DIM));
        // Empty, zeros, cut short, and a dead holder's whole record are
        // taken over; plain garbage (and 10 MiB of it) is refused.
        match case {
            0 | 1 | 2 | 5 => assert!(opened.is_ok(), "case {case}: {:?}", opened.err()),
            3 | 4 => assert!(opened.is_err(), "case {case}: garbage taken over"),
            _ => {}
        }
        match opened {
            Ok(s) => {
                taken += 1;
                drop(s);
            }
            Err(e) => {
                refused += 1;
                assert_eq!(e.kind(), ErrorKind::Locked, "case {case}: {e}");
                assert!(
                    e.to_string().contains(&lock.display().to_string()),
                    "case {case}: {e}"
                );
                assert_eq!(
                    std::fs::read(&lock).unwrap(),
                    bytes,
                    "case {case}: a refused lock file was changed"
                );
            }
        }
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "case {case} took {:?}",
            t.elapsed()
        );
        let _ = std::fs::remove_file(&lock);
    }
    eprintln!("locks: hostile lock files: {taken} taken over, {refused} refused");
    assert!(
        taken >= 4 && refused >= 2,
        "{taken} taken, {refused} refused"
    );
}
