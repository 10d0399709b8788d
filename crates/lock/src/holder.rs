//! The lock file's content: who holds the lock (SPEC.md §6.3, "Lock file content").
//!
//! The content is diagnostics in the OS-lock mode and the liveness evidence in
//! the exclusive-create mode. It is a few `key value` lines between a magic line
//! and an `end` line, so a reader can tell a record cut short by a crash
//! ("incomplete") from one that was never ours ("garbage").

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::LockMode;

/// First line of every lock record; the number is the record's version.
pub(crate) const MAGIC_LINE: &str = "nidus-lock 1";
/// Last line of every complete lock record.
const END_LINE: &str = "end";
/// Longest record a reader accepts; ours are a few hundred bytes.
pub(crate) const MAX_RECORD_LEN: usize = 4096;
/// Longest value kept from a field, so a hostile host name stays small.
const MAX_VALUE_LEN: usize = 255;

/// Who holds (or held) a write lock, as written in its lock file.
///
/// Every field is informational except in the exclusive-create fallback, where
/// `host`, `boot_id`, `pid` and `start_ticks` decide whether the holder is alive.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct HolderInfo {
    /// Process id of the holder.
    pub pid: u32,
    /// Host name of the holder's machine.
    pub host: String,
    /// Linux boot id of the holder's machine (`/proc/sys/kernel/random/boot_id`);
    /// tells a holder from before a reboot apart. `None` where unavailable.
    pub boot_id: Option<String>,
    /// Start time of the holder process in clock ticks since boot
    /// (`/proc/<pid>/stat` field 22); guards against PID reuse. `None` where
    /// unavailable.
    pub start_ticks: Option<u64>,
    /// When the lock was acquired (holder's clock).
    pub acquired: SystemTime,
    /// The holder's software and version, e.g. `nidus 0.1.0`.
    pub version: String,
    /// The protocol the holder used: [`LockMode::OsLock`] or
    /// [`LockMode::ExclusiveCreate`], never [`LockMode::Auto`].
    pub mode: LockMode,
    /// Random per-acquisition token: two records never compare equal by accident.
    pub(crate) nonce: u64,
}

impl fmt::Display for HolderInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "pid {} on host {} since {}, {}",
            self.pid,
            self.host,
            format_utc(self.acquired),
            self.version
        )
    }
}

/// What a lock file's bytes turned out to be.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Record {
    /// A complete, well-formed record.
    Holder(HolderInfo),
    /// Empty, all NUL, or a prefix of a record: its writer was still writing or
    /// died while writing. Never garbage from someone else.
    Incomplete,
    /// Not a nidus lock record at all.
    Garbage {
        /// What is wrong.
        reason: String,
    },
}

impl HolderInfo {
    /// Whether this record names the calling process: same pid, host, boot
    /// and (where known) process start time. A second writer in one
    /// process meets its own lock, and its error can then say so.
    pub fn is_this_process(&self) -> bool {
        let me = crate::process::local();
        self.pid == me.pid
            && self.host == me.host
            && unknown_or_equal(&self.boot_id, &me.boot_id)
            && unknown_or_equal(&self.start_ticks, &me.start_ticks)
    }

    /// The record's bytes (SPEC.md §6.3).
    pub(crate) fn encode(&self) -> Vec<u8> {
        let since = self.acquired.duration_since(UNIX_EPOCH).unwrap_or_default();
        let opt = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".to_string());
        let start = self
            .start_ticks
            .map_or_else(|| "-".to_string(), |t| t.to_string());
        format!(
            "{MAGIC_LINE}\npid {}\nhost {}\nboot {}\nstart {}\nacquired {}.{:09}\nversion {}\nmode {}\nnonce {:016x}\n{END_LINE}\n",
            self.pid,
            self.host,
            opt(&self.boot_id),
            start,
            since.as_secs(),
            since.subsec_nanos(),
            self.version,
            mode_name(self.mode),
            self.nonce,
        )
        .into_bytes()
    }
}

/// Two optional facts agree unless both are known and differ.
fn unknown_or_equal<T: PartialEq>(a: &Option<T>, b: &Option<T>) -> bool {
    a.is_none() || b.is_none() || a == b
}

fn mode_name(mode: LockMode) -> &'static str {
    match mode {
        LockMode::ExclusiveCreate => "exclusive-create",
        // Auto is resolved before a record is written.
        LockMode::OsLock | LockMode::Auto => "os",
    }
}

/// Makes a field value safe for the one-line format: printable, bounded.
pub(crate) fn sanitize_value(raw: &str) -> String {
    let cleaned: String = raw
        .trim()
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .take(MAX_VALUE_LEN)
        .collect();
    if cleaned.is_empty() {
        "unknown".to_string()
    } else {
        cleaned
    }
}

/// Classifies a lock file's bytes. `bytes` holds at most `MAX_RECORD_LEN + 1`
/// bytes (the caller's bounded read); more than `MAX_RECORD_LEN` is garbage.
pub(crate) fn parse(bytes: &[u8]) -> Record {
    if bytes.iter().all(|&b| b == 0) {
        return Record::Incomplete;
    }
    if bytes.len() > MAX_RECORD_LEN {
        return garbage(format!("longer than {MAX_RECORD_LEN} bytes"));
    }
    let Ok(text) = std::str::from_utf8(bytes) else {
        return garbage("not UTF-8".to_string());
    };
    let magic = format!("{MAGIC_LINE}\n");
    if !text.starts_with(&magic) {
        // A crash while writing leaves a prefix of the magic line; anything
        // else was written by someone other than nidus-lock.
        return if magic.starts_with(text) {
            Record::Incomplete
        } else {
            garbage(format!("does not start with \"{MAGIC_LINE}\""))
        };
    }
    if !text.ends_with(&format!("\n{END_LINE}\n")) {
        return Record::Incomplete;
    }
    let body = &text[magic.len()..text.len() - END_LINE.len() - 1];
    match parse_fields(body) {
        Ok(holder) => Record::Holder(holder),
        Err(reason) => garbage(reason),
    }
}

fn garbage(reason: String) -> Record {
    Record::Garbage { reason }
}

fn parse_fields(body: &str) -> Result<HolderInfo, String> {
    let mut pid = None;
    let mut host = None;
    let mut boot_id = None;
    let mut start_ticks = None;
    let mut acquired = None;
    let mut version = None;
    let mut mode = None;
    let mut nonce = None;
    for line in body.lines() {
        let (key, value) = line.split_once(' ').unwrap_or((line, ""));
        let bad = |what: &str| format!("bad {what} field \"{}\"", sanitize_value(value));
        match key {
            "pid" => pid = Some(value.parse::<u32>().map_err(|_| bad("pid"))?),
            "host" => host = Some(sanitize_value(value)),
            "boot" => boot_id = Some(optional(value).map(sanitize_value)),
            "start" => {
                start_ticks = Some(match optional(value) {
                    None => None,
                    Some(v) => Some(v.parse::<u64>().map_err(|_| bad("start"))?),
                })
            }
            "acquired" => acquired = Some(parse_timestamp(value).ok_or_else(|| bad("acquired"))?),
            "version" => version = Some(sanitize_value(value)),
            "mode" => {
                mode = Some(match value {
                    "os" => LockMode::OsLock,
                    "exclusive-create" => LockMode::ExclusiveCreate,
                    _ => return Err(bad("mode")),
                })
            }
            "nonce" => nonce = Some(u64::from_str_radix(value, 16).map_err(|_| bad("nonce"))?),
            // Later record versions may add fields; older readers skip them.
            _ => {}
        }
    }
    let missing = |what: &str| format!("missing {what} field");
    Ok(HolderInfo {
        pid: pid.ok_or_else(|| missing("pid"))?,
        host: host.ok_or_else(|| missing("host"))?,
        boot_id: boot_id.ok_or_else(|| missing("boot"))?,
        start_ticks: start_ticks.ok_or_else(|| missing("start"))?,
        acquired: acquired.ok_or_else(|| missing("acquired"))?,
        version: version.ok_or_else(|| missing("version"))?,
        mode: mode.ok_or_else(|| missing("mode"))?,
        nonce: nonce.ok_or_else(|| missing("nonce"))?,
    })
}

fn optional(value: &str) -> Option<&str> {
    (value != "-").then_some(value)
}

/// `<seconds>.<nanoseconds>` since the Unix epoch.
fn parse_timestamp(value: &str) -> Option<SystemTime> {
    let (secs, nanos) = value.split_once('.')?;
    let secs: u64 = secs.parse().ok()?;
    if nanos.len() != 9 {
        return None;
    }
    let nanos: u32 = nanos.parse().ok()?;
    UNIX_EPOCH.checked_add(Duration::new(secs, nanos))
}

/// Escapes the start of a file's bytes for an error message.
pub(crate) fn excerpt(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes
        .iter()
        .take(64)
        .flat_map(|&b| std::ascii::escape_default(b))
    {
        out.push(char::from(chunk));
    }
    if bytes.len() > 64 {
        out.push('…');
    }
    out
}

/// Formats a time as `YYYY-MM-DD hh:mm:ss UTC` (whole seconds).
pub(crate) fn format_utc(time: SystemTime) -> String {
    let secs = match time.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs(),
        Err(_) => return "before 1970".to_string(),
    };
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day), after
/// Howard Hinnant's `civil_from_days`, restricted to dates on or after 1970.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> HolderInfo {
        HolderInfo {
            pid: 1234,
            host: "build-7".to_string(),
            boot_id: Some("0b5a5c9e-7f1b-4a36-9a53-1d0c2d3e4f50".to_string()),
            start_ticks: Some(987_654),
            acquired: UNIX_EPOCH + Duration::new(1_764_409_258, 123_456_789),
            version: "nidus 0.1.0".to_string(),
            mode: LockMode::ExclusiveCreate,
            nonce: 0xdead_beef_0123_4567,
        }
    }

    #[test]
    fn record_round_trips() {
        let h = sample();
        assert_eq!(parse(&h.encode()), Record::Holder(h.clone()));
        let without_proc = HolderInfo {
            boot_id: None,
            start_ticks: None,
            mode: LockMode::OsLock,
            ..h
        };
        assert_eq!(
            parse(&without_proc.encode()),
            Record::Holder(without_proc.clone())
        );
    }

    #[test]
    fn every_proper_prefix_is_incomplete_never_garbage() {
        let bytes = sample().encode();
        for cut in 0..bytes.len() {
            assert_eq!(parse(&bytes[..cut]), Record::Incomplete, "cut at {cut}");
        }
        assert_eq!(parse(&[0u8; 40]), Record::Incomplete);
    }

    #[test]
    fn foreign_content_is_garbage() {
        for bytes in [
            &b"1234\n1764409258\n"[..],
            b"hello",
            b"\xff\xfe",
            b"nidus-lock 1\npid x\nend\n",
            b"nidus-lock 1\npid 1\nend\n",
            b"nidus-lock 2\n",
            b"nidus-lock 1\nend\n",
        ] {
            assert!(
                matches!(parse(bytes), Record::Garbage { .. }),
                "{:?} -> {:?}",
                String::from_utf8_lossy(bytes),
                parse(bytes)
            );
        }
        let huge = vec![b'a'; MAX_RECORD_LEN + 1];
        assert!(matches!(parse(&huge), Record::Garbage { .. }));
    }

    #[test]
    fn unknown_fields_are_skipped() {
        let text = String::from_utf8(sample().encode()).unwrap();
        let extended = text.replace("\nend\n", "\nfuture something\nend\n");
        assert_eq!(parse(extended.as_bytes()), Record::Holder(sample()));
    }

    #[test]
    fn display_names_pid_host_and_time() {
        let shown = sample().to_string();
        assert_eq!(
            shown,
            "pid 1234 on host build-7 since 2025-11-29 09:40:58 UTC, nidus 0.1.0"
        );
    }

    #[test]
    fn knows_a_record_of_this_process_from_one_of_another() {
        let me = crate::process::local();
        let mine = HolderInfo {
            pid: me.pid,
            host: me.host.clone(),
            boot_id: me.boot_id.clone(),
            start_ticks: me.start_ticks,
            ..sample()
        };
        assert!(mine.is_this_process());
        let other_pid = HolderInfo {
            pid: me.pid.wrapping_add(1),
            ..mine.clone()
        };
        assert!(!other_pid.is_this_process());
        let other_host = HolderInfo {
            host: format!("{}-elsewhere", me.host),
            ..mine.clone()
        };
        assert!(!other_host.is_this_process());
        // A recycled pid: same number, another process start.
        let recycled = HolderInfo {
            start_ticks: Some(me.start_ticks.map_or(1, |t| t.wrapping_add(1))),
            ..mine
        };
        assert_eq!(recycled.is_this_process(), me.start_ticks.is_none());
    }

    #[test]
    fn utc_formatting_matches_known_dates() {
        assert_eq!(format_utc(UNIX_EPOCH), "1970-01-01 00:00:00 UTC");
        // 2000-02-29 (leap day in a century leap year) 12:34:56.
        let leap = UNIX_EPOCH + Duration::from_secs(951_827_696);
        assert_eq!(format_utc(leap), "2000-02-29 12:34:56 UTC");
        // 2100-03-01: 2100 is not a leap year.
        let d = UNIX_EPOCH + Duration::from_secs(4_107_542_400);
        assert_eq!(format_utc(d), "2100-03-01 00:00:00 UTC");
    }

    #[test]
    fn sanitize_strips_control_characters() {
        assert_eq!(sanitize_value(" a\nb\tc "), "a?b?c");
        assert_eq!(sanitize_value("  "), "unknown");
        assert_eq!(sanitize_value(&"x".repeat(1000)).len(), MAX_VALUE_LEN);
    }
}
