//! The crate's error type: one variant per thing a caller may want to act on.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::holder::HolderInfo;

/// Why a [`WriteLock`](crate::WriteLock) could not be taken, checked or released.
///
/// Match on [`LockError::Locked`] to tell "another writer holds the store" apart
/// from real failures; every variant names the file at fault.
#[derive(Debug)]
#[non_exhaustive]
pub enum LockError {
    /// Another live holder owns the lock. Displays as
    /// `store is locked: <path> (held by pid 1234 on host h since …)`.
    Locked {
        /// The lock file.
        path: PathBuf,
        /// Who holds it, as its lock file says; `None` when the file was empty,
        /// still being written, or not in the nidus format.
        /// (Boxed to keep the error small.)
        holder: Option<Box<HolderInfo>>,
    },
    /// The lock file exists but its content is not a nidus lock record, so
    /// nobody can tell whether its writer is alive. It is never taken over
    /// automatically: an operator must check and remove it (see the crate docs).
    Unparseable {
        /// The lock file.
        path: PathBuf,
        /// What is wrong with the content.
        reason: String,
        /// The start of the content, escaped for display.
        excerpt: String,
    },
    /// A lock this process held no longer owns its path: the lock file was
    /// removed or replaced behind its back (by hand, or, in the TTL fallback,
    /// by a process that judged this holder dead). Stop writing.
    Lost {
        /// The lock file.
        path: PathBuf,
    },
    /// The TTL is zero; it must be positive.
    InvalidTtl {
        /// The rejected value.
        ttl: Duration,
    },
    /// An I/O operation on a lock file failed.
    Io {
        /// The file the operation was on.
        path: PathBuf,
        /// What was being done, e.g. "opening" or "locking".
        action: &'static str,
        /// The underlying error.
        source: io::Error,
    },
}

impl LockError {
    /// The file this error is about, if any.
    pub fn path(&self) -> Option<&Path> {
        match self {
            LockError::Locked { path, .. }
            | LockError::Unparseable { path, .. }
            | LockError::Lost { path }
            | LockError::Io { path, .. } => Some(path),
            LockError::InvalidTtl { .. } => None,
        }
    }

    pub(crate) fn io(path: &Path, action: &'static str, source: io::Error) -> LockError {
        LockError::Io {
            path: path.to_path_buf(),
            action,
            source,
        }
    }
}

impl fmt::Display for LockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LockError::Locked { path, holder } => {
                write!(f, "store is locked: {}", path.display())?;
                match holder {
                    Some(h) => write!(f, " (held by {h})"),
                    None => write!(
                        f,
                        " (holder unknown: the lock file is empty, being written, or not a nidus lock record)"
                    ),
                }
            }
            LockError::Unparseable {
                path,
                reason,
                excerpt,
            } => write!(
                f,
                "lock file {} is not a nidus lock record ({reason}; content starts \"{excerpt}\"); \
                 check that no writer is using the store, then remove it",
                path.display()
            ),
            LockError::Lost { path } => write!(
                f,
                "write lock lost: {} was removed or replaced by someone else",
                path.display()
            ),
            LockError::InvalidTtl { ttl } => {
                write!(f, "invalid lock TTL {ttl:?}: it must be greater than zero")
            }
            LockError::Io {
                path,
                action,
                source,
            } => write!(f, "{action} lock file {}: {source}", path.display()),
        }
    }
}

impl std::error::Error for LockError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LockError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}
