//! The fault-injecting file system: [`FaultyFs`] wraps the real one
//! (`StdFileSystem`) and asks its [`Faults`] switchboard at every *fault
//! point* (each write, sync, truncate, rename, directory sync, removal,
//! creation, open, `fstat`, seek and, when enabled, read) whether to fail.
//!
//! Two ways to fail, which the suites mix freely:
//!
//! - **a countdown** ([`Faults::arm`]): the Nth point from now fails, and
//!   the [`Mode`] says what happens after (transient, sticky, the cut-back
//!   failing too, or a benign short/interrupted write). A fault-free run
//!   first records every point's [`Class`] in [`State::log`], so a suite
//!   can then fail each point in turn;
//! - **switches**: a byte budget after which writes fail with ENOSPC
//!   ([`Faults::set_write_budget`]), and classes that fail at every point
//!   until healed ([`Faults::set_failing`]).
//!
//! [`Faults::heal`] clears both. Injected errors are ENOSPC for writes and
//! creations (and every other rename), EIO otherwise: what a full or
//! dying disk returns (SPEC.md §7.3).

use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use nidus_store::io::{FileId, FileSystem, OpenMode, StdFileSystem, StoreFile};

use crate::Rng;

/// The kinds of fault points.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// A write to a file.
    Write,
    /// `fdatasync` of a file.
    Sync,
    /// A truncation (or extension) of a file.
    SetLen,
    /// A rename.
    Rename,
    /// A directory sync.
    SyncDir,
    /// A file removal.
    Remove,
    /// Opening a new file (`OpenMode::CreateNew`).
    Create,
    /// Opening an existing file.
    Open,
    /// `fstat` for the file's length.
    Len,
    /// `fstat` for the file's identity, or `stat` of a path.
    Id,
    /// A seek.
    Seek,
    /// A read (a fault point only once [`State::reads`] is set).
    Read,
}

/// What an armed countdown does once its point is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// That point fails, later ones succeed (a transient error).
    Once,
    /// That point and every later point of its class fail (a full disk
    /// stays full, a dying disk keeps failing).
    Sticky,
    /// That point fails and so does every later truncation, so the store
    /// cannot cut a partial frame back.
    CutFails,
    /// As `CutFails`; the suite then ends the process's use of the store,
    /// so a reopen meets the debris (the file system treats it as
    /// `CutFails`).
    CutFailsThenExit,
    /// That write is short or interrupted, which `write_all` must absorb.
    Benign,
}

/// Runs when a fault fires (e.g. a reader refreshing at that moment).
pub type Hook = Box<dyn FnMut() + Send>;

/// Everything the switchboard knows; the suites read and set it through
/// `faults.0.lock()`.
#[derive(Default)]
pub struct State {
    /// Runs once, when the next non-benign fault fires.
    pub hook: Option<Hook>,
    /// Points passed since the last [`Faults::arm`].
    pub seen: u64,
    /// Classes of the points passed, in order (a counting run's log).
    pub log: Vec<Class>,
    /// The point (counted from the last arm) where the countdown fires.
    pub fail_at: Option<u64>,
    /// What the countdown does from that point on.
    pub mode: Option<Mode>,
    /// The class and index of the point where the countdown fired.
    pub fired: Option<(Class, u64)>,
    /// Reads are fault points (the read suites only).
    pub reads: bool,
    /// Reads return at most this many bytes (0: no limit).
    pub short_reads: usize,
    /// Picks between a short and an interrupted benign write.
    pub benign: Rng,
    /// Faults injected so far (countdown and switches).
    pub injected: u64,
    /// Writes fail with ENOSPC once this many more bytes went through,
    /// after writing what fits (`None`: no limit).
    pub write_budget: Option<u64>,
    /// Classes that fail at every point until healed.
    pub failing: Vec<Class>,
}

/// The switchboard a [`FaultyFs`] consults at every point.
#[derive(Default)]
pub struct Faults(pub Mutex<State>);

impl std::fmt::Debug for Faults {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Faults")
    }
}

/// The answer at a fault point.
pub enum Verdict {
    /// Go ahead.
    Pass,
    /// Fail with this error.
    Fail(io::Error),
    /// A benign fault on a write: write at most this many bytes.
    Short(usize),
    /// A benign fault on a write: `ErrorKind::Interrupted`, nothing written.
    Interrupted,
}

/// The error a write past the budget returns: a full disk.
fn out_of_space() -> io::Error {
    io::Error::new(
        io::ErrorKind::StorageFull,
        "injected: no space left on device",
    )
}

/// ENOSPC (28) for writes, creations and every other index's rename; EIO
/// (5) otherwise.
fn injected_error(class: Class, index: u64) -> io::Error {
    let code = match class {
        Class::Write | Class::Create => 28,
        Class::Rename if index.is_multiple_of(2) => 28,
        _ => 5,
    };
    io::Error::from_raw_os_error(code)
}

impl Faults {
    /// A switchboard with nothing armed, shared with the file system.
    pub fn new() -> Arc<Faults> {
        Arc::new(Faults::default())
    }

    /// The state, locked.
    fn state(&self) -> MutexGuard<'_, State> {
        self.0.lock().unwrap()
    }

    /// Restarts the count: point `fail_at` from now fails in `mode`
    /// (`None`: nothing fails, the run only counts and logs).
    pub fn arm(&self, fail_at: Option<u64>, mode: Option<Mode>) {
        let mut s = self.state();
        s.seen = 0;
        s.log.clear();
        s.fail_at = fail_at;
        s.mode = mode;
        s.fired = None;
    }

    /// The disk works again: disarms the countdown, lifts the write budget
    /// and every failing class.
    pub fn heal(&self) {
        self.arm(None, None);
        let mut s = self.state();
        s.write_budget = None;
        s.failing.clear();
    }

    /// Writes fail with ENOSPC once `bytes` more went through, after
    /// writing what fits (a short write first). `u64::MAX`: no limit.
    pub fn set_write_budget(&self, bytes: u64) {
        self.state().write_budget = (bytes != u64::MAX).then_some(bytes);
    }

    /// Makes every point of `class` fail (`on`) or pass again.
    pub fn set_failing(&self, class: Class, on: bool) {
        let mut s = self.state();
        s.failing.retain(|&c| c != class);
        if on {
            s.failing.push(class);
        }
    }

    /// Counts a point of `class` and says what happens there.
    pub fn point(&self, class: Class) -> Verdict {
        let mut s = self.state();
        if class == Class::Read && !s.reads {
            return Verdict::Pass;
        }
        let index = s.seen;
        s.seen += 1;
        s.log.push(class);
        let fail = match (s.fired, s.mode) {
            (None, _) => s.fail_at == Some(index),
            (Some((c, _)), Some(Mode::Sticky)) => c == class,
            (Some(_), Some(Mode::CutFails | Mode::CutFailsThenExit)) => class == Class::SetLen,
            _ => false,
        };
        if !fail {
            if s.failing.contains(&class) {
                s.injected += 1;
                return Verdict::Fail(injected_error(class, index));
            }
            return Verdict::Pass;
        }
        if s.fired.is_none() {
            s.fired = Some((class, index));
        }
        s.injected += 1;
        if s.mode == Some(Mode::Benign) {
            let r = s.benign.next_u64();
            return if (r >> 33).is_multiple_of(2) {
                Verdict::Interrupted
            } else {
                Verdict::Short(((r >> 40) % 64) as usize + 1)
            };
        }
        if let Some(mut hook) = s.hook.take() {
            drop(s);
            hook();
        }
        Verdict::Fail(injected_error(class, index))
    }

    /// Writes `buf` to `inner` within the write budget.
    fn write_within_budget(&self, inner: &mut dyn StoreFile, buf: &[u8]) -> io::Result<usize> {
        let Some(budget) = self.state().write_budget else {
            return inner.write(buf);
        };
        if budget == 0 {
            self.state().injected += 1;
            return Err(out_of_space());
        }
        let n = buf.len().min(usize::try_from(budget).unwrap_or(usize::MAX));
        let n = inner.write(&buf[..n])?;
        self.state().write_budget = Some(budget - n as u64);
        Ok(n)
    }
}

/// The fault-injecting file system: the real one, with every operation
/// first passing a point of its [`Faults`].
#[derive(Debug)]
pub struct FaultyFs(pub Arc<Faults>);

/// A file opened through [`FaultyFs`].
#[derive(Debug)]
struct FaultyFile {
    inner: Box<dyn StoreFile>,
    faults: Arc<Faults>,
}

/// The error of a failing verdict; any other verdict passes.
fn check(v: Verdict) -> io::Result<()> {
    match v {
        Verdict::Fail(e) => Err(e),
        _ => Ok(()),
    }
}

impl Read for FaultyFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let limit = self.faults.state().short_reads;
        let n = if limit > 0 {
            buf.len().min(limit)
        } else {
            buf.len()
        };
        match self.faults.point(Class::Read) {
            Verdict::Fail(e) => Err(e),
            _ => self.inner.read(&mut buf[..n]),
        }
    }
}

impl Seek for FaultyFile {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        check(self.faults.point(Class::Seek))?;
        self.inner.seek(pos)
    }
}

impl Write for FaultyFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.faults.point(Class::Write) {
            Verdict::Pass => self.faults.write_within_budget(&mut *self.inner, buf),
            Verdict::Short(n) => self.inner.write(&buf[..n.min(buf.len())]),
            Verdict::Interrupted => Err(io::Error::from(io::ErrorKind::Interrupted)),
            Verdict::Fail(e) => {
                // A failing write may have written part of the buffer first,
                // as a real ENOSPC does.
                let part = buf.len() / 3;
                if part > 0 {
                    let _ = self.inner.write(&buf[..part]);
                }
                Err(e)
            }
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl StoreFile for FaultyFile {
    fn sync_data(&mut self) -> io::Result<()> {
        check(self.faults.point(Class::Sync))?;
        self.inner.sync_data()
    }
    fn set_len(&mut self, len: u64) -> io::Result<()> {
        check(self.faults.point(Class::SetLen))?;
        self.inner.set_len(len)
    }
    fn len(&self) -> io::Result<u64> {
        check(self.faults.point(Class::Len))?;
        self.inner.len()
    }
    fn id(&self) -> io::Result<FileId> {
        check(self.faults.point(Class::Id))?;
        self.inner.id()
    }
}

impl FileSystem for FaultyFs {
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Box<dyn StoreFile>> {
        let class = if mode == OpenMode::CreateNew {
            Class::Create
        } else {
            Class::Open
        };
        check(self.0.point(class))?;
        Ok(Box::new(FaultyFile {
            inner: StdFileSystem.open(path, mode)?,
            faults: Arc::clone(&self.0),
        }))
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        check(self.0.point(Class::Rename))?;
        StdFileSystem.rename(from, to)
    }
    fn sync_dir(&self, dir: &Path) -> io::Result<()> {
        check(self.0.point(Class::SyncDir))?;
        StdFileSystem.sync_dir(dir)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        check(self.0.point(Class::Remove))?;
        StdFileSystem.remove_file(path)
    }
    fn create_dir_all(&self, dir: &Path) -> io::Result<()> {
        StdFileSystem.create_dir_all(dir)
    }
    fn id_of(&self, path: &Path) -> io::Result<FileId> {
        check(self.0.point(Class::Id))?;
        StdFileSystem.id_of(path)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::Arc;

    use nidus_store::io::{FileSystem, OpenMode, StoreFile};

    use super::{Class, Faults, FaultyFs, Mode};

    fn new_file(fs: &FaultyFs, dir: &tempfile::TempDir, name: &str) -> Box<dyn StoreFile> {
        fs.open(&dir.path().join(name), OpenMode::CreateNew)
            .expect("create")
    }

    #[test]
    fn a_write_budget_gives_a_short_write_then_enospc() {
        let dir = tempfile::tempdir().unwrap();
        let faults = Faults::new();
        let fs = FaultyFs(Arc::clone(&faults));
        let mut f = new_file(&fs, &dir, "f");
        faults.set_write_budget(5);
        assert_eq!(f.write(b"0123456789").unwrap(), 5);
        let e = f.write(b"more").unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::StorageFull);
        assert!(e.to_string().contains("no space left"), "{e}");
        assert_eq!(f.len().unwrap(), 5);
        faults.heal();
        f.write_all(b"rest").unwrap();
        assert_eq!(f.len().unwrap(), 9);
    }

    #[test]
    fn an_armed_point_fails_once_or_sticks_to_its_class() {
        let dir = tempfile::tempdir().unwrap();
        let faults = Faults::new();
        let fs = FaultyFs(Arc::clone(&faults));
        let mut f = new_file(&fs, &dir, "f");
        // Counting run: every point is logged by class.
        faults.arm(None, None);
        f.write_all(b"ab").unwrap();
        f.sync_data().unwrap();
        assert_eq!(faults.0.lock().unwrap().log, [Class::Write, Class::Sync]);
        for (mode, second_sync_fails) in [(Mode::Once, false), (Mode::Sticky, true)] {
            faults.arm(Some(1), Some(mode));
            f.write_all(b"ab").unwrap();
            assert!(f.sync_data().is_err(), "{mode:?}: point 1 fails");
            assert_eq!(faults.0.lock().unwrap().fired, Some((Class::Sync, 1)));
            f.write_all(b"ab").expect("another class passes");
            assert_eq!(f.sync_data().is_err(), second_sync_fails, "{mode:?}");
        }
        faults.heal();
        f.sync_data().unwrap();
    }

    #[test]
    fn a_failing_class_fails_until_healed() {
        let dir = tempfile::tempdir().unwrap();
        let faults = Faults::new();
        let fs = FaultyFs(Arc::clone(&faults));
        let mut f = new_file(&fs, &dir, "f");
        faults.set_failing(Class::SetLen, true);
        for _ in 0..3 {
            assert!(f.set_len(0).is_err());
        }
        f.sync_data().expect("other classes pass");
        faults.heal();
        f.set_len(0).unwrap();
    }
}
