//! Facts about this process and others, read from procfs (no libc).
//!
//! The exclusive-create fallback decides whether a holder on this host is alive
//! from `/proc/<pid>/stat`: the PID must exist, not be a zombie, and have the
//! start time the holder recorded, so a recycled PID is not mistaken for it.

use std::fs;
use std::io;
use std::sync::OnceLock;

use crate::holder::sanitize_value;

/// This process as it describes itself in lock records.
#[derive(Debug)]
pub(crate) struct LocalProcess {
    pub pid: u32,
    pub host: String,
    pub boot_id: Option<String>,
    pub start_ticks: Option<u64>,
}

/// This process's identity, read once.
pub(crate) fn local() -> &'static LocalProcess {
    static LOCAL: OnceLock<LocalProcess> = OnceLock::new();
    LOCAL.get_or_init(|| {
        let pid = std::process::id();
        LocalProcess {
            pid,
            host: host_name(),
            boot_id: fs::read_to_string("/proc/sys/kernel/random/boot_id")
                .ok()
                .map(|s| sanitize_value(&s)),
            start_ticks: read_stat(&format!("/proc/{pid}/stat"))
                .ok()
                .flatten()
                .map(|s| s.start_ticks),
        }
    })
}

fn host_name() -> String {
    for source in ["/proc/sys/kernel/hostname", "/etc/hostname"] {
        if let Ok(name) = fs::read_to_string(source) {
            let name = sanitize_value(&name);
            if name != "unknown" {
                return name;
            }
        }
    }
    "unknown".to_string()
}

/// What `/proc/<pid>/stat` says about a process.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Stat {
    /// Field 3: R, S, D, Z (zombie), X (dead), …
    pub state: char,
    /// Field 22: start time in clock ticks since boot.
    pub start_ticks: u64,
}

/// Parses a stat line. The command name (field 2) is in parentheses and may
/// itself contain spaces and ')', so fields are counted after the last ')'.
pub(crate) fn parse_stat(line: &str) -> Option<Stat> {
    let after = &line[line.rfind(')')? + 1..];
    let mut fields = after.split_whitespace();
    let state = fields.next()?.chars().next()?;
    // Field 3 is the first after ')'; field 22 is 19 further on.
    let start_ticks = fields.nth(18)?.parse().ok()?;
    Some(Stat { state, start_ticks })
}

/// `Ok(None)` when the process does not exist.
fn read_stat(path: &str) -> io::Result<Option<Stat>> {
    match fs::read_to_string(path) {
        Ok(line) => Ok(parse_stat(&line)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        // ESRCH: the process exited while we read.
        Err(e) if e.raw_os_error() == Some(3) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Whether a process on this host is alive.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub(crate) enum Liveness {
    Alive,
    Dead,
    /// No procfs here (or it refused us): fall back to the TTL.
    Unknown,
}

/// Is the process `pid`, started at `start_ticks` (if recorded), still running
/// on this host?
pub(crate) fn liveness(pid: u32, start_ticks: Option<u64>) -> Liveness {
    if local().start_ticks.is_none() {
        // We cannot read even our own stat: no usable procfs.
        return Liveness::Unknown;
    }
    match read_stat(&format!("/proc/{pid}/stat")) {
        Ok(None) => Liveness::Dead,
        Ok(Some(stat)) => {
            if matches!(stat.state, 'Z' | 'X' | 'x') {
                // Exited; only its exit status is left for the parent to reap.
                Liveness::Dead
            } else if start_ticks.is_some_and(|t| t != stat.start_ticks) {
                // Same number, different process: the PID was reused.
                Liveness::Dead
            } else {
                Liveness::Alive
            }
        }
        Err(_) => Liveness::Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_last_parenthesis() {
        let line = "4242 (a) b) c) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 777123 1000 10 18446744073709551615";
        assert_eq!(
            parse_stat(line),
            Some(Stat {
                state: 'S',
                start_ticks: 777_123
            })
        );
        assert_eq!(parse_stat("12 (x) S 1 2"), None);
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn this_process_is_alive_and_a_wrong_start_time_is_not() {
        let me = local();
        let Some(start) = me.start_ticks else {
            // No procfs on this platform: nothing to check.
            assert_eq!(liveness(me.pid, None), Liveness::Unknown);
            return;
        };
        assert_eq!(liveness(me.pid, Some(start)), Liveness::Alive);
        assert_eq!(liveness(me.pid, Some(start + 1)), Liveness::Dead);
        assert_eq!(liveness(me.pid, None), Liveness::Alive);
        assert!(!me.host.is_empty());
    }

    #[test]
    fn an_exited_child_is_dead() {
        if local().start_ticks.is_none() {
            return;
        }
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert_eq!(liveness(pid, None), Liveness::Dead);
    }

    #[test]
    fn an_exited_but_unreaped_child_is_dead() {
        if local().start_ticks.is_none() {
            return;
        }
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        // Until reaped, the child is a zombie with its pid still in /proc.
        let mut verdict = liveness(pid, None);
        for _ in 0..500 {
            if verdict == Liveness::Dead {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
            verdict = liveness(pid, None);
        }
        assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
        assert_eq!(verdict, Liveness::Dead);
        child.wait().unwrap();
    }
}
