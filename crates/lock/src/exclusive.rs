//! The fallback protocol for file systems that refuse OS locks: the lock is
//! the existence of `<dir>/lock`, created with `O_EXCL` (SPEC.md §6.3,
//! "Exclusive-create mode").
//!
//! Nothing ends such a lock when its holder dies, so a stale file must be
//! reclaimed, and reclaiming must be race-free: two processes that both judge
//! the same file stale must not both remove "it", or the slower one removes
//! the lock the faster one has just created. Only the holder of a *claim* on
//! the stale file may remove it. A claim is a file named after the stale
//! file's identity, created with `O_EXCL`, so at most one claim per generation
//! exists; a claim whose creator died is superseded by the next generation.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::Duration;

use crate::error::LockError;
use crate::file::{self, FileId};
use crate::holder::{self, HolderInfo, Record};
use crate::judge::{self, Verdict};
use crate::{Acquired, LockMode};

/// Attempts before giving up with `Locked`; with the back-off below, about a
/// second of contention.
const MAX_ATTEMPTS: u32 = 64;
/// Claims on one stale file whose creators all died before giving up.
const MAX_CLAIM_GENERATIONS: u32 = 8;

/// Takes the lock. `precreated` is a lock file this process has just created
/// with `O_EXCL` (the OS-lock attempt did, then found locks unsupported).
pub(crate) fn acquire(
    dir: &Path,
    path: &Path,
    ttl: Duration,
    me: &HolderInfo,
    precreated: Option<File>,
) -> Result<Acquired, LockError> {
    if let Some(file) = precreated {
        return finish(path, file, me);
    }
    for attempt in 0..MAX_ATTEMPTS {
        match OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)
        {
            Ok(file) => return finish(path, file, me),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(LockError::io(path, "creating", e)),
        }
        let Some(observed) = Observed::open(path)? else {
            continue; // released meanwhile
        };
        match judge::judge(holder::parse(&observed.bytes), observed.mtime, ttl) {
            Verdict::Live(holder) => {
                return Err(LockError::Locked {
                    path: path.to_path_buf(),
                    holder,
                });
            }
            Verdict::Garbage { reason } => {
                return Err(LockError::Unparseable {
                    path: path.to_path_buf(),
                    reason,
                    excerpt: holder::excerpt(&observed.bytes),
                });
            }
            Verdict::Stale => match reclaim(dir, path, &observed, ttl, me)? {
                Reclaim::Done => {}
                Reclaim::Busy => thread::sleep(backoff(attempt)),
            },
        }
    }
    Err(LockError::Locked {
        path: path.to_path_buf(),
        holder: None,
    })
}

/// Writes our record into the file we created.
fn finish(path: &Path, file: File, me: &HolderInfo) -> Result<Acquired, LockError> {
    // No fsync: after a power loss an empty or cut-short record is judged by
    // the TTL rule like any other incomplete record.
    file::overwrite(&file, &me.encode()).map_err(|e| LockError::io(path, "writing", e))?;
    let meta = file
        .metadata()
        .map_err(|e| LockError::io(path, "reading metadata of", e))?;
    Ok(Acquired {
        id: FileId::of(&meta),
        file,
        mode: LockMode::ExclusiveCreate,
    })
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(1 << attempt.min(4))
}

/// A lock file as we saw it. The handle stays open, which pins the inode: while
/// we hold it, no new file can get the same (device, inode), so a matching
/// `FileId` later means the very same file.
struct Observed {
    /// Held only to pin the inode.
    _file: File,
    id: FileId,
    bytes: Vec<u8>,
    mtime: Option<std::time::SystemTime>,
}

impl Observed {
    /// `None` if the path does not exist.
    fn open(path: &Path) -> Result<Option<Observed>, LockError> {
        let file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(LockError::io(path, "opening", e)),
        };
        let meta = file
            .metadata()
            .map_err(|e| LockError::io(path, "reading metadata of", e))?;
        let bytes = file::read_record(&file).map_err(|e| LockError::io(path, "reading", e))?;
        Ok(Some(Observed {
            id: FileId::of(&meta),
            mtime: file::mtime(&meta),
            _file: file,
            bytes,
        }))
    }

    /// The name every reclaimer of this file computes alike.
    fn fingerprint(&self) -> u64 {
        file::fnv1a(&[&self.id.to_le_bytes(), &self.bytes])
    }
}

enum Reclaim {
    /// The stale file is gone (we removed it, or someone else had): retry.
    Done,
    /// Another live process is reclaiming it: wait, then retry.
    Busy,
}

fn claim_path(dir: &Path, fingerprint: u64, generation: u32) -> PathBuf {
    dir.join(format!(
        "{}.reclaim-{fingerprint:016x}-{generation}",
        crate::LOCK_FILE_NAME
    ))
}

/// Removes the stale lock file `stale`, unless another reclaimer is at it.
fn reclaim(
    dir: &Path,
    path: &Path,
    stale: &Observed,
    ttl: Duration,
    me: &HolderInfo,
) -> Result<Reclaim, LockError> {
    let fingerprint = stale.fingerprint();
    for generation in 0..MAX_CLAIM_GENERATIONS {
        let claim = claim_path(dir, fingerprint, generation);
        match OpenOptions::new().write(true).create_new(true).open(&claim) {
            Ok(mut file) => {
                // Our record makes the claim judgeable if we die holding it.
                let _ = file.write_all(&me.encode());
                let result = remove_if_still_stale(path, stale, ttl);
                // Every earlier claim on this file belongs to a dead claimer,
                // and the file is gone or live again: tidy all of them.
                for g in 0..=generation {
                    let _ = fs::remove_file(claim_path(dir, fingerprint, g));
                }
                return result.map(|()| Reclaim::Done);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                let Some(other) = Observed::open(&claim)? else {
                    // The claimer finished and tidied up.
                    return Ok(Reclaim::Done);
                };
                let record = match holder::parse(&other.bytes) {
                    // A claim is never an operator's business: judge a
                    // garbled one by its age alone.
                    Record::Garbage { .. } => Record::Incomplete,
                    record => record,
                };
                match judge::judge(record, other.mtime, ttl) {
                    Verdict::Stale => continue, // its claimer died: next generation
                    Verdict::Live(_) | Verdict::Garbage { .. } => return Ok(Reclaim::Busy),
                }
            }
            Err(e) => return Err(LockError::io(&claim, "creating", e)),
        }
    }
    Err(LockError::io(
        &claim_path(dir, fingerprint, MAX_CLAIM_GENERATIONS),
        "reclaiming stale",
        io::Error::other(format!(
            "{MAX_CLAIM_GENERATIONS} reclaimers of {} died mid-reclaim; remove {}.reclaim-* by hand",
            path.display(),
            path.display()
        )),
    ))
}

/// Under a claim: remove the lock file if the path still names the file we
/// judged stale and it still looks stale (an other-host holder may have
/// refreshed it meanwhile).
fn remove_if_still_stale(path: &Path, stale: &Observed, ttl: Duration) -> Result<(), LockError> {
    let Some(now) = Observed::open(path)? else {
        return Ok(());
    };
    if now.id != stale.id {
        return Ok(()); // already reclaimed and replaced
    }
    if let Verdict::Stale = judge::judge(holder::parse(&now.bytes), now.mtime, ttl) {
        match fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(LockError::io(path, "removing stale", e)),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dead_pid() -> u32 {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        pid
    }

    /// A lock file left by a dead holder, and the record of this process.
    fn stale_lock(dir: &Path) -> (PathBuf, HolderInfo, HolderInfo) {
        let me = crate::this_holder(LockMode::ExclusiveCreate);
        let dead = HolderInfo {
            pid: dead_pid(),
            ..me.clone()
        };
        let path = dir.join(crate::LOCK_FILE_NAME);
        fs::write(&path, dead.encode()).unwrap();
        (path, me, dead)
    }

    fn reclaim_files(dir: &Path) -> Vec<String> {
        fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.starts_with("lock.reclaim-"))
            .collect()
    }

    #[test]
    fn a_claim_left_by_a_dead_reclaimer_is_superseded_and_tidied() {
        let dir = tempfile::tempdir().unwrap();
        let (path, me, dead) = stale_lock(dir.path());
        let fingerprint = Observed::open(&path).unwrap().unwrap().fingerprint();
        fs::write(claim_path(dir.path(), fingerprint, 0), dead.encode()).unwrap();
        fs::write(claim_path(dir.path(), fingerprint, 1), b"garbled").unwrap();
        // Generation 1 is garbled but fresh: it might be being written.
        let stale = Observed::open(&path).unwrap().unwrap();
        let ttl = Duration::from_secs(3600);
        assert!(matches!(
            reclaim(dir.path(), &path, &stale, ttl, &me),
            Ok(Reclaim::Busy)
        ));
        assert!(path.exists());
        // Once older than the TTL, it is judged abandoned too.
        let short = Duration::from_millis(20);
        thread::sleep(short * 2);
        let acquired = acquire(dir.path(), &path, short, &me, None).unwrap();
        assert_eq!(acquired.mode, LockMode::ExclusiveCreate);
        assert_eq!(fs::read(&path).unwrap(), me.encode());
        assert_eq!(reclaim_files(dir.path()), Vec::<String>::new());
    }

    #[test]
    fn a_live_claim_makes_reclaimers_back_off_and_leaves_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let (path, me, _) = stale_lock(dir.path());
        let stale = Observed::open(&path).unwrap().unwrap();
        // A claim by a live process (this one, under another nonce).
        let claimer = crate::this_holder(LockMode::ExclusiveCreate);
        fs::write(
            claim_path(dir.path(), stale.fingerprint(), 0),
            claimer.encode(),
        )
        .unwrap();
        assert!(matches!(
            reclaim(dir.path(), &path, &stale, Duration::from_secs(3600), &me),
            Ok(Reclaim::Busy)
        ));
        assert!(path.exists());
        assert_eq!(reclaim_files(dir.path()).len(), 1);
    }

    #[test]
    fn a_reclaimer_never_removes_a_file_that_replaced_the_stale_one() {
        let dir = tempfile::tempdir().unwrap();
        let (path, me, _) = stale_lock(dir.path());
        let stale = Observed::open(&path).unwrap().unwrap();
        // Someone else reclaims and takes the lock after our judgement.
        fs::remove_file(&path).unwrap();
        let theirs = crate::this_holder(LockMode::ExclusiveCreate);
        fs::write(&path, theirs.encode()).unwrap();
        let ttl = Duration::from_secs(3600);
        assert!(matches!(
            reclaim(dir.path(), &path, &stale, ttl, &me),
            Ok(Reclaim::Done)
        ));
        assert_eq!(fs::read(&path).unwrap(), theirs.encode());
        assert_eq!(reclaim_files(dir.path()), Vec::<String>::new());
    }
}
