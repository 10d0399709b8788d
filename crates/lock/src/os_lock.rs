//! The default protocol: an OS lock (`flock` via std's `File::try_lock`) on
//! `<dir>/lock` (SPEC.md §6.3, "OS-lock mode").
//!
//! The kernel ends the lock when the holder's process dies, so exclusion needs
//! no clocks and no liveness guesses. The one subtlety is the unlink race: a
//! releasing holder removes the file, and a process that opened the old file
//! just before may then lock an inode no longer reachable by the path while a
//! third process creates and locks a new one. After locking, we therefore check
//! that the path still names the inode we locked, and retry if not.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io;
use std::path::Path;
use std::time::Duration;

use crate::error::LockError;
use crate::file::{self, FileId};
use crate::holder::{self, HolderInfo, Record};
use crate::judge::{self, Verdict};
use crate::{Acquired, LockMode};

/// How many times to retry when the path is replaced under us. Each retry means
/// another process released or acquired in between, i.e. progress was made.
const MAX_ATTEMPTS: usize = 64;

pub(crate) enum Outcome {
    Acquired(Acquired),
    /// The file system refuses locks. `file` is the lock file we opened, and
    /// `created` says whether this call created it (then it is still empty).
    Unsupported {
        file: File,
        created: bool,
        error: io::Error,
    },
}

pub(crate) fn acquire(path: &Path, ttl: Duration, me: &HolderInfo) -> Result<Outcome, LockError> {
    for _ in 0..MAX_ATTEMPTS {
        let Some((file, created)) = open_or_create(path)? else {
            continue;
        };
        match try_lock(&file) {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Err(locked_by(path, &file)),
            Err(TryLockError::Error(error)) if file::is_unsupported(&error) => {
                return Ok(Outcome::Unsupported {
                    file,
                    created,
                    error,
                });
            }
            Err(TryLockError::Error(e)) => return Err(LockError::io(path, "locking", e)),
        }
        let meta = file
            .metadata()
            .map_err(|e| LockError::io(path, "reading metadata of", e))?;
        let id = FileId::of(&meta);
        match fs::metadata(path) {
            Ok(now) if FileId::of(&now) == id => {}
            // Unlinked or replaced between our open and our lock: the lock we
            // hold guards nothing. Drop it and start again.
            Ok(_) => continue,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(LockError::io(path, "reading metadata of", e)),
        }
        if !created {
            let bytes = file::read_record(&file).map_err(|e| LockError::io(path, "reading", e))?;
            match holder::parse(&bytes) {
                // A holder using the fallback protocol takes no OS lock; it
                // is judged by the fallback's liveness rules.
                Record::Holder(h) if h.mode == LockMode::ExclusiveCreate => {
                    if let Verdict::Live(holder) =
                        judge::judge(Record::Holder(h), file::mtime(&meta), ttl)
                    {
                        return Err(LockError::Locked {
                            path: path.to_path_buf(),
                            holder,
                        });
                    }
                }
                // Not ours to overwrite: it may belong to a tool that locks
                // differently (an older nidus, say) and is still running.
                Record::Garbage { reason } => {
                    return Err(LockError::Unparseable {
                        path: path.to_path_buf(),
                        reason,
                        excerpt: holder::excerpt(&bytes),
                    });
                }
                // A record from an OS-lock holder, complete or cut short: its
                // process is gone, since the OS lock was free.
                Record::Holder(_) | Record::Incomplete => {}
            }
        }
        file::overwrite(&file, &me.encode()).map_err(|e| LockError::io(path, "writing", e))?;
        return Ok(Outcome::Acquired(Acquired {
            file,
            id,
            mode: LockMode::OsLock,
        }));
    }
    Err(LockError::Locked {
        path: path.to_path_buf(),
        holder: None,
    })
}

/// `File::try_lock`, except that tests can make this thread's calls fail as
/// on a file system without locks.
fn try_lock(file: &File) -> Result<(), TryLockError> {
    #[cfg(test)]
    if test_hooks::LOCKS_UNSUPPORTED.get() {
        return Err(TryLockError::Error(io::Error::from(
            io::ErrorKind::Unsupported,
        )));
    }
    file.try_lock()
}

/// Opens the lock file, creating it if absent; reports whether we created it.
/// `None` when it vanished between the two attempts (try again).
fn open_or_create(path: &Path) -> Result<Option<(File, bool)>, LockError> {
    let mut options = OpenOptions::new();
    // Write access: some NFS clients emulate flock with POSIX locks, which
    // need it for an exclusive lock; and the record is rewritten in place.
    options.read(true).write(true);
    match options.clone().create_new(true).open(path) {
        Ok(file) => return Ok(Some((file, true))),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(LockError::io(path, "creating", e)),
    }
    match options.open(path) {
        Ok(file) => Ok(Some((file, false))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(LockError::io(path, "opening", e)),
    }
}

/// The `Locked` error for a file whose OS lock someone else holds, naming the
/// holder if its record is readable.
fn locked_by(path: &Path, file: &File) -> LockError {
    let holder = match file::read_record(file).map(|b| holder::parse(&b)) {
        Ok(Record::Holder(h)) => Some(Box::new(h)),
        _ => None,
    };
    LockError::Locked {
        path: path.to_path_buf(),
        holder,
    }
}

#[cfg(test)]
pub(crate) mod test_hooks {
    use std::cell::Cell;

    thread_local! {
        /// While set, this thread's lock attempts report `Unsupported`.
        pub(crate) static LOCKS_UNSUPPORTED: Cell<bool> = const { Cell::new(false) };
    }
}
