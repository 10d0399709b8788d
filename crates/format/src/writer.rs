//! The append side (SPEC.md §6.2): one batch, one frame, one write; a
//! failed write is cut back to the frame boundary.

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::batch::Batch;
use crate::error::{FormatError, FormatErrorKind};
use crate::frame::encode_frame;
use crate::header::{HEADER_LEN, Header};

/// The three file operations an [`Appender`] needs: the seam where tests
/// (and the store's fault injection) put a file that fails on demand.
pub trait Sink {
    /// Writes all of `buf` at the current end, or fails; after a failure
    /// any prefix of `buf` may have been written.
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()>;
    /// Makes everything written so far durable (fsync / fdatasync).
    fn sync(&mut self) -> io::Result<()>;
    /// Cuts the file to `len` bytes and places the next write at `len`.
    fn truncate(&mut self, len: u64) -> io::Result<()>;
}

impl Sink for File {
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        Write::write_all(self, buf)
    }

    fn sync(&mut self) -> io::Result<()> {
        // fdatasync: also flushes the file size, which reading the new
        // frame back requires; other metadata (mtime) may lag.
        self.sync_data()
    }

    fn truncate(&mut self, len: u64) -> io::Result<()> {
        self.set_len(len)?;
        // set_len does not move the cursor: without the seek the next write
        // would land past the end and leave a hole of zeros.
        self.seek(SeekFrom::Start(len))?;
        Ok(())
    }
}

impl<S: Sink + ?Sized> Sink for &mut S {
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        (**self).write_all(buf)
    }

    fn sync(&mut self) -> io::Result<()> {
        (**self).sync()
    }

    fn truncate(&mut self, len: u64) -> io::Result<()> {
        (**self).truncate(len)
    }
}

/// An in-memory file, for tests and for building a file image in memory.
impl Sink for Vec<u8> {
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.extend_from_slice(buf);
        Ok(())
    }

    fn sync(&mut self) -> io::Result<()> {
        Ok(())
    }

    fn truncate(&mut self, len: u64) -> io::Result<()> {
        let len = usize::try_from(len).map_err(io::Error::other)?;
        self.resize(len, 0);
        Ok(())
    }
}

/// Appends batches to a data file, one frame per batch, and keeps the file
/// a sequence of whole frames: when a write fails (ENOSPC, EIO) it cuts the
/// file back to the frame boundary before returning the error, so the next
/// append never builds on a partial frame.
///
/// Durability is the caller's choice: [`Appender::append`] returns once the
/// frame is handed to the OS; [`Appender::sync`] makes it durable. If the
/// cut-back or a sync fails the file's state is unknown and the appender is
/// poisoned ([`FormatErrorKind::Poisoned`]): reopening the store re-reads the
/// file and recovers (SPEC.md §6.2).
pub struct Appender<S = File> {
    sink: S,
    path: Option<PathBuf>,
    header: Header,
    /// Offset of the end of the last whole frame: where the next one goes.
    end: u64,
    /// Reused encoding buffer.
    frame: Vec<u8>,
    poisoned: bool,
}

impl Appender<File> {
    /// Creates the data file at `path` (failing if it exists), writes
    /// `header`, and makes the file and its directory entry durable.
    pub fn create(path: impl AsRef<Path>, header: Header) -> Result<Self, FormatError> {
        let path = path.as_ref();
        let io_err = |e| FormatError::io(e, Some(0)).with_path(path);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(io_err)?;
        Write::write_all(&mut file, &header.encode()).map_err(io_err)?;
        file.sync_all().map_err(io_err)?;
        sync_parent_dir(path).map_err(io_err)?;
        Ok(Appender::new(file, header, HEADER_LEN as u64).with_path(path))
    }

    /// Resumes appending to an existing data file whose valid prefix ends
    /// at `valid_end`: cuts anything after it (a torn tail) and positions
    /// the next write there. The caller decides whether to
    /// [`Appender::sync`] the cut.
    ///
    /// `valid_end` must come from a [`Reader`](crate::Reader) that read the
    /// file to an [`End::Clean`](crate::End::Clean) or
    /// [`End::TornTail`](crate::End::TornTail). Never pass the offset of an
    /// [`End::Corrupt`](crate::End::Corrupt): the cut would destroy the
    /// committed batches after the damage (SPEC.md §6.2). Fails with
    /// [`FormatErrorKind::InvalidInput`] if the file is shorter than `valid_end`
    /// or `valid_end` lies inside the header.
    ///
    /// The recovery recipe of a writable open:
    ///
    /// ```
    /// use std::fs::OpenOptions;
    /// use nidus_format::{Appender, Batch, End, Header, Op, Reader, DATA_FILE};
    ///
    /// let dir = tempfile::tempdir()?;
    /// let path = dir.path().join(DATA_FILE);
    /// let mut app = Appender::create(&path, Header::new(2)?)?;
    /// app.append(&Batch { ops: vec![Op::CreateCollection { name: "c".into() }], vectors: vec![] })?;
    /// app.sync()?;
    /// drop(app);
    ///
    /// let mut reader = Reader::open(&path)?;
    /// let mut batch = Batch::default();
    /// while reader.next_into(&mut batch)? {
    ///     // apply `batch` to the in-memory state
    /// }
    /// // Corruption came back as an error above; a torn tail is cut here.
    /// assert!(matches!(reader.end(), Some(End::Clean { .. } | End::TornTail { .. })));
    /// let file = OpenOptions::new().read(true).write(true).open(&path)?;
    /// let mut app = Appender::resume(file, &path, *reader.header(), reader.valid_end())?;
    /// app.sync()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn resume(
        mut file: File,
        path: impl AsRef<Path>,
        header: Header,
        valid_end: u64,
    ) -> Result<Self, FormatError> {
        let path = path.as_ref();
        let io_err = |e| FormatError::io(e, Some(valid_end)).with_path(path);
        let len = file.metadata().map_err(io_err)?.len();
        if valid_end > len || valid_end < HEADER_LEN as u64 {
            return Err(FormatError::invalid_input(format!(
                "cannot resume at byte {valid_end} of a {len}-byte file"
            ))
            .with_path(path));
        }
        Sink::truncate(&mut file, valid_end).map_err(io_err)?;
        Ok(Appender::new(file, header, valid_end).with_path(path))
    }
}

impl<S> fmt::Debug for Appender<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Appender")
            .field("path", &self.path)
            .field("header", &self.header)
            .field("end", &self.end)
            .field("poisoned", &self.poisoned)
            .finish_non_exhaustive()
    }
}

impl<S: Sink> Appender<S> {
    /// An appender over `sink`, whose next write lands at offset `end`, the
    /// end of the file's last whole frame.
    pub fn new(sink: S, header: Header, end: u64) -> Self {
        Appender {
            sink,
            path: None,
            header,
            end,
            frame: Vec::new(),
            poisoned: false,
        }
    }

    /// Names the file in every error.
    pub fn with_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.path = Some(path.into());
        self
    }

    /// The header frames are encoded against.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The offset just past the last whole frame: the file's valid length.
    pub fn end(&self) -> u64 {
        self.end
    }

    /// Encodes `batch` as one frame and writes it in one call. Returns the
    /// offset where the frame starts. On error nothing of the frame remains
    /// in the file (or the appender is poisoned, see [`Appender`]).
    ///
    /// Errors: [`FormatErrorKind::InvalidInput`] (nothing written),
    /// [`FormatErrorKind::Io`], [`FormatErrorKind::Poisoned`].
    pub fn append(&mut self, batch: &Batch) -> Result<u64, FormatError> {
        self.check_poisoned()?;
        let mut frame = std::mem::take(&mut self.frame);
        frame.clear();
        let result = encode_frame(batch, &self.header, &mut frame)
            .map_err(|e| e.with_opt_path(self.path.as_deref()))
            .and_then(|()| self.append_encoded(&frame));
        self.frame = frame;
        result
    }

    /// Writes frames already built by [`encode_frame`] against this
    /// appender's header (one or several, back to back) in one call, with
    /// the same all-or-nothing cut-back as [`Appender::append`]. Returns the
    /// offset where the bytes start.
    pub fn append_encoded(&mut self, frames: &[u8]) -> Result<u64, FormatError> {
        self.check_poisoned()?;
        let start = self.end;
        if let Err(err) = self.sink.write_all(frames) {
            if self.sink.truncate(start).is_err() {
                self.poisoned = true;
            }
            return Err(FormatError::io(err, Some(start)).with_opt_path(self.path.as_deref()));
        }
        self.end = start + frames.len() as u64;
        Ok(start)
    }

    /// Makes every frame appended so far durable. A failed sync poisons
    /// the appender: after a failed fsync the kernel may have dropped the
    /// unwritten pages, so what is on disk is unknown until reread.
    pub fn sync(&mut self) -> Result<(), FormatError> {
        self.check_poisoned()?;
        self.sink.sync().map_err(|e| {
            self.poisoned = true;
            FormatError::io(e, Some(self.end)).with_opt_path(self.path.as_deref())
        })
    }

    /// The sink.
    pub fn get_ref(&self) -> &S {
        &self.sink
    }

    /// The sink, mutably; writing through it breaks the appender's idea of
    /// where the file ends.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.sink
    }

    /// Returns the sink.
    pub fn into_inner(self) -> S {
        self.sink
    }

    fn check_poisoned(&self) -> Result<(), FormatError> {
        if self.poisoned {
            Err(FormatError::new(FormatErrorKind::Poisoned, Some(self.end))
                .with_opt_path(self.path.as_deref()))
        } else {
            Ok(())
        }
    }
}

/// Makes a new directory entry durable: fsync of the parent directory on
/// Unix. Elsewhere directories cannot be opened for syncing and the
/// operating system is trusted to persist the entry.
pub fn sync_parent_dir(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        File::open(parent)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        Ok(())
    }
}
