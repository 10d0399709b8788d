//! nidus-lock: one writer per store directory, never two, never stuck
//! (SPEC.md §6.3).
//!
//! [`WriteLock::acquire`] takes the write lock of a store directory, held in
//! the file `<dir>/lock`, and the returned guard releases it when dropped. A
//! second writer gets [`LockError::Locked`], whose message names the lock file
//! and its holder: `store is locked: /data/notes/lock (held by pid 1234 on
//! host h since 2026-11-29 09:41:00 UTC, nidus 0.1.0)`. Readers take no lock
//! at all (SPEC.md §6.4).
//!
//! ```
//! use std::time::Duration;
//! use nidus_lock::{LockError, WriteLock};
//!
//! # fn main() -> Result<(), LockError> {
//! let dir = tempfile::tempdir().expect("temp dir");
//! let lock = WriteLock::acquire(dir.path(), Duration::from_secs(30))?;
//! assert!(dir.path().join("lock").exists());
//!
//! // A second writer, even in the same process, is refused.
//! match WriteLock::acquire(dir.path(), Duration::from_secs(30)) {
//!     Err(LockError::Locked { holder, .. }) => {
//!         assert_eq!(holder.map(|h| h.pid), Some(std::process::id()));
//!     }
//!     other => panic!("expected Locked, got {other:?}"),
//! }
//!
//! lock.verify()?; // still ours: safe to write
//! drop(lock); // releases the lock and removes the file
//! assert!(!dir.path().join("lock").exists());
//! # Ok(())
//! # }
//! ```
//!
//! # Design: an OS lock first, a lock file with a TTL only as a fallback
//!
//! Exclusion comes from an OS lock (`flock`, through std's
//! [`File::try_lock`](std::fs::File::try_lock)) on the lock file, not from the
//! file's existence. A lock-file-with-TTL protocol alone must guess whether
//! the holder is alive, and every guess fails one way or the other:
//!
//! - a TTL short enough to recover quickly from a crash lets a second writer
//!   steal the lock from a live writer that is merely slow, and two writers
//!   appending to one file lose data;
//! - a TTL long enough to be safe blocks everyone for that long after a crash.
//!
//! The kernel releases an OS lock the instant its process dies, however it
//! dies, and never before. So a live writer keeps its lock however long it
//! works, and a crashed writer's lock is free at once. The lock file's
//! content (pid, host, process start time, acquire time, version) is then
//! only diagnostics, for the error message and for operators.
//!
//! Some file systems (certain network mounts) refuse OS locks. There, and only
//! there ([`LockMode::Auto`]), the crate falls back to creating the lock file
//! exclusively (`O_EXCL`) and judging a leftover file by its holder's liveness:
//! on the same machine, whether the recorded process still runs with the
//! recorded start time; from another machine, whether the holder has
//! refreshed the file's modification time within the TTL. That mode is as good
//! as clocks and host names are; SPEC.md §6.3 lists what it cannot promise.
//!
//! # For operators: a lock file left behind
//!
//! A `lock` file in a store directory with no writer running is normal after a
//! crash or `kill -9`, and harmless: the next writer takes the lock over at
//! once (OS-lock mode), or as soon as it sees the recorded process is gone
//! (fallback mode, same machine) or the file is older than the TTL (fallback
//! mode, other machines). You never need to remove it for nidus's sake.
//!
//! Remove it by hand only when a writer reports
//! [`LockError::Unparseable`] (the file is not a nidus lock record, e.g. left
//! by another tool or an older nidus), and only after checking that no
//! process on any machine is writing to the store: `cat` the file, look for
//! the process it names (`ps -p PID` on that host), and check `lsof`/`fuser`
//! on the store directory. Removing the file while a writer runs lets a second
//! writer in beside it, which can corrupt the store. Leftover
//! `lock.reclaim-*` files (fallback mode only) are debris from a process that
//! died while reclaiming a stale lock; they are harmless and safe to delete
//! when no writer is starting.
//!
//! # Choosing the TTL
//!
//! The TTL only matters in the fallback mode, for holders on other machines:
//! it is how long such a holder's crash blocks writers, and how long a live
//! holder may go without refreshing (every TTL/4) before it is presumed dead.
//! Pick it well above the NFS attribute-cache time, the clock skew between
//! machines and any pause a writer may suffer; 30 to 120 seconds is typical.
//! It never delays recovery in OS-lock mode or on one machine.
//!
//! Unix only: identity checks use device and inode numbers.
#![forbid(unsafe_code)]

mod error;
mod exclusive;
mod file;
mod holder;
mod judge;
mod os_lock;
mod process;
mod refresh;

use std::collections::hash_map::RandomState;
use std::fmt;
use std::fs::{self, File};
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

pub use error::LockError;
pub use holder::HolderInfo;

use file::FileId;
use refresh::Refresher;

/// Name of the lock file inside a store directory.
pub const LOCK_FILE_NAME: &str = "lock";

/// Which exclusion protocol to use (SPEC.md §6.3).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LockMode {
    /// An OS lock where the file system supports it, else the exclusive-create
    /// fallback. The default, and the right choice outside tests.
    #[default]
    Auto,
    /// An OS lock (`flock`) on the lock file, and nothing else; acquiring
    /// fails with an `Unsupported` I/O error where the file system refuses
    /// locks.
    OsLock,
    /// The fallback protocol, even where OS locks work: exclusive creation of
    /// the lock file, with liveness checks and a TTL for stale files.
    ExclusiveCreate,
}

/// How to acquire a lock: [`LockOptions::new`] then the `with_*` setters.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct LockOptions {
    /// How long a holder on another machine may go without refreshing the lock
    /// file before it is presumed dead (fallback mode only). Holders refresh
    /// every `ttl / 4`. Must be greater than zero.
    pub ttl: Duration,
    /// The protocol; [`LockMode::Auto`] by default.
    pub mode: LockMode,
}

impl LockOptions {
    /// Options with this TTL and [`LockMode::Auto`].
    pub fn new(ttl: Duration) -> LockOptions {
        LockOptions {
            ttl,
            mode: LockMode::Auto,
        }
    }

    /// Sets the protocol.
    pub fn with_mode(mut self, mode: LockMode) -> LockOptions {
        self.mode = mode;
        self
    }
}

/// The result of a successful protocol run: our lock file, open.
pub(crate) struct Acquired {
    file: File,
    id: FileId,
    mode: LockMode,
}

/// The write lock of one store directory, held until dropped.
///
/// While a `WriteLock` exists, no other `WriteLock` for the same directory
/// exists, in this process or any other (within the limits of the mode in
/// effect, SPEC.md §6.3). Dropping it removes the lock file, but only if the
/// path still names the file this lock created, so it never deletes another
/// holder's lock.
pub struct WriteLock {
    path: PathBuf,
    file: Arc<File>,
    id: FileId,
    mode: LockMode,
    holder: HolderInfo,
    refresher: Refresher,
    released: bool,
}

impl WriteLock {
    /// Takes the write lock of `dir` in [`LockMode::Auto`]; `ttl` as in
    /// [`LockOptions::ttl`].
    ///
    /// Returns at once: [`LockError::Locked`] if another live holder has it,
    /// [`LockError::Unparseable`] if `<dir>/lock` holds something that is not
    /// a nidus lock record. A lock left by a dead holder is taken over.
    pub fn acquire(dir: &Path, ttl: Duration) -> Result<WriteLock, LockError> {
        WriteLock::acquire_with(dir, &LockOptions::new(ttl))
    }

    /// Takes the write lock of `dir` with explicit options.
    pub fn acquire_with(dir: &Path, options: &LockOptions) -> Result<WriteLock, LockError> {
        let ttl = options.ttl;
        if ttl.is_zero() {
            return Err(LockError::InvalidTtl { ttl });
        }
        let path = dir.join(LOCK_FILE_NAME);
        let mut me = this_holder(LockMode::OsLock);
        let acquired = match options.mode {
            LockMode::ExclusiveCreate => {
                me.mode = LockMode::ExclusiveCreate;
                exclusive::acquire(dir, &path, ttl, &me, None)?
            }
            LockMode::OsLock | LockMode::Auto => match os_lock::acquire(&path, ttl, &me)? {
                os_lock::Outcome::Acquired(acquired) => acquired,
                os_lock::Outcome::Unsupported {
                    file,
                    created,
                    error,
                } => {
                    if options.mode == LockMode::OsLock {
                        if created {
                            remove_if_ours(&path, &file);
                        }
                        return Err(LockError::io(&path, "locking", error));
                    }
                    me.mode = LockMode::ExclusiveCreate;
                    // If we just created the file with O_EXCL, we already are
                    // the fallback protocol's holder.
                    exclusive::acquire(dir, &path, ttl, &me, created.then_some(file))?
                }
            },
        };
        let Acquired { file, id, mode } = acquired;
        let file = Arc::new(file);
        let refresher =
            match Refresher::start(path.clone(), Arc::clone(&file), id, refresh::period(ttl)) {
                Ok(r) => r,
                Err(e) => {
                    remove_if_ours(&path, &file);
                    return Err(LockError::io(&path, "starting the refresh thread for", e));
                }
            };
        Ok(WriteLock {
            path,
            file,
            id,
            mode,
            holder: me,
            refresher,
            released: false,
        })
    }

    /// The lock file, `<dir>/lock`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The protocol in effect: [`LockMode::OsLock`] or
    /// [`LockMode::ExclusiveCreate`], never [`LockMode::Auto`].
    pub fn mode(&self) -> LockMode {
        self.mode
    }

    /// This holder's record, as written in the lock file.
    pub fn holder(&self) -> &HolderInfo {
        &self.holder
    }

    /// Checks that the lock is still ours: the path still names the file this
    /// lock created. Returns [`LockError::Lost`] if it was removed or replaced
    /// (by hand, or in fallback mode by a process that judged us dead); a
    /// writer should call this before committing and stop if it fails.
    pub fn verify(&self) -> Result<(), LockError> {
        let lost = || LockError::Lost {
            path: self.path.clone(),
        };
        if self.refresher.lost() {
            return Err(lost());
        }
        match fs::metadata(&self.path) {
            Ok(meta) if FileId::of(&meta) == self.id => Ok(()),
            Ok(_) => Err(lost()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(lost()),
            Err(e) => Err(LockError::io(&self.path, "reading metadata of", e)),
        }
    }

    /// Releases the lock now, reporting what dropping would ignore: an error
    /// removing the file, or [`LockError::Lost`] if it was no longer ours.
    pub fn release(mut self) -> Result<(), LockError> {
        self.release_inner()
    }

    fn release_inner(&mut self) -> Result<(), LockError> {
        if self.released {
            return Ok(());
        }
        self.released = true;
        // The heartbeat holds a handle to the file (sharing our OS lock): stop
        // it first so closing our handle really ends the lock.
        self.refresher.stop();
        // Remove the file while still holding the OS lock, and only if it is
        // ours. In OS-lock mode nobody else may replace the path while we hold
        // the lock on the file it names, so check-then-remove is race-free.
        let result = self.remove_if_still_ours();
        // End the OS lock now rather than when the handle closes (ignored in
        // fallback mode, where there is none).
        let _ = self.file.unlock();
        result
    }

    fn remove_if_still_ours(&self) -> Result<(), LockError> {
        match fs::metadata(&self.path) {
            Ok(meta) if FileId::of(&meta) == self.id => match fs::remove_file(&self.path) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(LockError::io(&self.path, "removing", e)),
            },
            Ok(_) => Err(LockError::Lost {
                path: self.path.clone(),
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(LockError::Lost {
                path: self.path.clone(),
            }),
            Err(e) => Err(LockError::io(&self.path, "reading metadata of", e)),
        }
    }
}

impl Drop for WriteLock {
    fn drop(&mut self) {
        // Errors cannot be reported from drop; `release` reports them.
        let _ = self.release_inner();
    }
}

impl fmt::Debug for WriteLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WriteLock")
            .field("path", &self.path)
            .field("mode", &self.mode)
            .field("holder", &self.holder)
            .finish_non_exhaustive()
    }
}

/// Removes `path` if it still names `file` (cleanup after a failed acquire).
fn remove_if_ours(path: &Path, file: &File) {
    let ours = match (fs::metadata(path), file.metadata()) {
        (Ok(a), Ok(b)) => FileId::of(&a) == FileId::of(&b),
        _ => false,
    };
    if ours {
        let _ = fs::remove_file(path);
    }
}

/// This process's record for a new acquisition.
fn this_holder(mode: LockMode) -> HolderInfo {
    let me = process::local();
    HolderInfo {
        pid: me.pid,
        host: me.host.clone(),
        boot_id: me.boot_id.clone(),
        start_ticks: me.start_ticks,
        acquired: SystemTime::now(),
        version: concat!("nidus ", env!("CARGO_PKG_VERSION")).to_string(),
        mode,
        nonce: nonce(),
    }
}

/// A value no other acquisition uses: std's randomly keyed hasher over a
/// process-wide counter and the time.
fn nonce() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.write_u32(std::process::id());
    if let Ok(since) = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH) {
        hasher.write_u128(since.as_nanos());
    }
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_write_lock_can_move_between_and_be_shared_by_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<WriteLock>();
        assert_send_sync::<LockError>();
    }

    /// Runs `f` as if the file system refused OS locks (this thread only).
    fn without_os_locks<T>(f: impl FnOnce() -> T) -> T {
        os_lock::test_hooks::LOCKS_UNSUPPORTED.set(true);
        let out = f();
        os_lock::test_hooks::LOCKS_UNSUPPORTED.set(false);
        out
    }

    #[test]
    fn auto_falls_back_to_exclusive_create_where_locks_are_unsupported() {
        let dir = tempfile::tempdir().unwrap();
        let ttl = Duration::from_secs(60);
        let lock = without_os_locks(|| WriteLock::acquire(dir.path(), ttl)).unwrap();
        assert_eq!(lock.mode(), LockMode::ExclusiveCreate);
        let text = fs::read_to_string(lock.path()).unwrap();
        assert!(text.contains("\nmode exclusive-create\n"), "{text}");
        // The fallback now guards the store: another Auto writer, with or
        // without working locks, is refused.
        let refused = |r: Result<WriteLock, LockError>| matches!(r, Err(LockError::Locked { .. }));
        assert!(refused(without_os_locks(|| WriteLock::acquire(
            dir.path(),
            ttl
        ))));
        assert!(refused(WriteLock::acquire(dir.path(), ttl)));
        lock.release().unwrap();
        assert!(!dir.path().join(LOCK_FILE_NAME).exists());
    }

    #[test]
    fn auto_fallback_reclaims_a_dead_holders_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let dead = HolderInfo {
            pid: child.id(),
            ..this_holder(LockMode::ExclusiveCreate)
        };
        child.wait().unwrap();
        let path = dir.path().join(LOCK_FILE_NAME);
        fs::write(&path, dead.encode()).unwrap();
        let lock =
            without_os_locks(|| WriteLock::acquire(dir.path(), Duration::from_secs(60))).unwrap();
        assert_eq!(lock.mode(), LockMode::ExclusiveCreate);
        assert_eq!(fs::read(&path).unwrap(), lock.holder().encode());
    }

    #[test]
    fn forced_os_lock_reports_unsupported_and_leaves_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let options = LockOptions::new(Duration::from_secs(60)).with_mode(LockMode::OsLock);
        match without_os_locks(|| WriteLock::acquire_with(dir.path(), &options)) {
            Err(LockError::Io { source, .. }) => {
                assert_eq!(source.kind(), io::ErrorKind::Unsupported);
            }
            other => panic!("expected an Unsupported I/O error, got {other:?}"),
        }
        assert!(!dir.path().join(LOCK_FILE_NAME).exists());
    }

    #[test]
    fn nonces_differ_between_acquisitions() {
        let a = this_holder(LockMode::OsLock);
        let b = this_holder(LockMode::OsLock);
        assert_ne!(a.nonce, b.nonce);
        assert_ne!(a, b);
    }
}
