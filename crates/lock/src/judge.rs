//! Is the holder named by a lock file still alive? (SPEC.md §6.3, "Liveness")
//!
//! Used by the exclusive-create fallback, where no OS lock ends with the
//! holder's process, and by the OS-lock mode when it meets a record left by a
//! fallback holder.

use std::time::{Duration, SystemTime};

use crate::holder::{HolderInfo, Record};
use crate::process::{self, Liveness};

/// The verdict on a lock file.
#[derive(Debug)]
pub(crate) enum Verdict {
    /// Someone may be using it: hands off.
    Live(Option<Box<HolderInfo>>),
    /// Its holder is gone: it may be reclaimed.
    Stale,
    /// Not a nidus record: an operator must decide.
    Garbage { reason: String },
}

/// Judges a lock record whose file was last modified at `mtime`.
///
/// - A record from this machine (same host name and, where both are known,
///   same boot id) is live exactly while its process is: the PID exists, is
///   not a zombie, and has the recorded start time. No TTL applies, so a
///   long-running writer is never judged stale.
/// - A record from elsewhere, or one we cannot check (no procfs, or a record
///   cut short by a crash), is live while its file was modified within `ttl`:
///   live holders refresh the modification time every `ttl / 4`.
pub(crate) fn judge(record: Record, mtime: Option<SystemTime>, ttl: Duration) -> Verdict {
    match record {
        Record::Holder(holder) => {
            let me = process::local();
            let same_machine = holder.host == me.host
                && match (&holder.boot_id, &me.boot_id) {
                    (Some(theirs), Some(ours)) => theirs == ours,
                    // A host name shared with a machine that records no boot
                    // id: trust the name.
                    _ => true,
                };
            if same_machine {
                match process::liveness(holder.pid, holder.start_ticks) {
                    Liveness::Alive => return Verdict::Live(Some(Box::new(holder))),
                    Liveness::Dead => return Verdict::Stale,
                    Liveness::Unknown => {}
                }
            }
            // Another machine, the same name after a reboot, or no procfs:
            // only the refreshed modification time can tell.
            if expired(mtime, ttl) {
                Verdict::Stale
            } else {
                Verdict::Live(Some(Box::new(holder)))
            }
        }
        Record::Incomplete => {
            if expired(mtime, ttl) {
                Verdict::Stale
            } else {
                Verdict::Live(None)
            }
        }
        Record::Garbage { reason } => Verdict::Garbage { reason },
    }
}

/// Was the file last modified more than `ttl` ago? A modification time in the
/// future (clock skew) or unknown counts as fresh: when in doubt, never steal.
pub(crate) fn expired(mtime: Option<SystemTime>, ttl: Duration) -> bool {
    match mtime {
        Some(m) => SystemTime::now()
            .duration_since(m)
            .is_ok_and(|age| age > ttl),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_is_strict_and_never_fires_for_future_or_unknown_times() {
        let ttl = Duration::from_secs(10);
        let now = SystemTime::now();
        assert!(expired(Some(now - Duration::from_secs(11)), ttl));
        assert!(!expired(Some(now - Duration::from_secs(5)), ttl));
        assert!(!expired(Some(now + Duration::from_secs(3600)), ttl));
        assert!(!expired(None, ttl));
    }

    #[test]
    fn incomplete_records_follow_the_ttl() {
        let ttl = Duration::from_secs(10);
        let old = SystemTime::now() - Duration::from_secs(60);
        assert!(matches!(
            judge(Record::Incomplete, Some(old), ttl),
            Verdict::Stale
        ));
        assert!(matches!(
            judge(Record::Incomplete, Some(SystemTime::now()), ttl),
            Verdict::Live(None)
        ));
    }
}
