//! The streaming reader (SPEC.md §6.2): header, then committed batches in
//! order, then a report of where and why the valid prefix ends.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

mod checks;
mod frame_buf;
mod input;
mod torn;

pub use frame_buf::Frame;

use crate::batch::Batch;
use crate::checksum::checksum;
use crate::codec::decode_payload;
use crate::content::RowFault;
use crate::error::{FormatError, FormatErrorKind};
use crate::frame::{FRAME_HEADER_LEN, MAX_PAYLOAD_LEN, MIN_PAYLOAD_LEN};
use crate::header::{HEADER_LEN, Header, MAGIC};
use crate::view::BatchRef;
use checks::{checksum_and_check, content_verdict, record_failure, validate_loaded};
use frame_buf::Layout;
use input::Input;
use torn::{Scan, find_frame};

/// When the input's length is unknown, a payload buffer grows by at most
/// this much (or doubles) per read, so a damaged length field cannot make
/// the reader allocate much more than the bytes that actually arrive.
const GROWTH_STEP: usize = 64 << 10;

/// Buffer size of [`Reader::open`]: many small frames cost one syscall per
/// 256 KiB, and big payloads bypass the buffer.
const FILE_BUFFER: usize = 256 << 10;

/// Where and why the valid prefix of the input ends (SPEC.md §6.2).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum End {
    /// The input ends exactly after a whole frame (or after the header).
    Clean {
        /// The input's length: the end of the valid prefix.
        offset: u64,
    },
    /// The last frame is incomplete (cut short, or whole in length but its
    /// checksum fails with nothing after it, or an all-zero tail): the
    /// writer died mid-append, and that batch was never committed. A
    /// writable open truncates the file to `offset`.
    TornTail {
        /// Where the torn frame starts: the end of the valid prefix.
        offset: u64,
        /// Bytes from `offset` to the end of the input.
        dropped: u64,
    },
    /// A frame at `offset` fails its checksum (or its length or payload
    /// grammar) and more bytes follow it: damage, not a crash. The batches
    /// before `offset` are intact; nothing after it is trusted.
    Corrupt {
        /// Where the bad frame starts: the end of the valid prefix.
        offset: u64,
        /// What is wrong with the frame.
        reason: String,
    },
}

impl End {
    /// The byte offset where the valid prefix ends: everything before it
    /// decoded, nothing at or after it is part of a committed batch.
    pub fn valid_end(&self) -> u64 {
        match self {
            End::Clean { offset } | End::TornTail { offset, .. } | End::Corrupt { offset, .. } => {
                *offset
            }
        }
    }

    /// `Ok` for a clean end; the typed error ([`FormatErrorKind::TornTail`] or
    /// [`FormatErrorKind::Corrupt`], at [`End::valid_end`]) otherwise. For callers
    /// that accept nothing but a clean file.
    pub fn check(&self) -> Result<(), FormatError> {
        match self {
            End::Clean { .. } => Ok(()),
            End::TornTail { offset, dropped } => Err(FormatError::new(
                FormatErrorKind::TornTail { dropped: *dropped },
                Some(*offset),
            )),
            End::Corrupt { offset, reason } => Err(FormatError::corrupt(*offset, reason.clone())),
        }
    }
}

/// A streaming reader of one nidus data file over any [`Read`].
///
/// [`Reader::new`] reads and checks the header; [`Reader::next_into`] then
/// yields the committed batches in file order, reusing the caller's
/// [`Batch`] and one internal buffer, so memory stays at about one batch
/// however long the file is. When the input ends, [`Reader::end`] says where
/// the valid prefix ends and why ([`End`]). A frame damaged in the middle of
/// the file is an error ([`FormatErrorKind::Corrupt`]), never silently skipped.
///
/// The reader never allocates more than the input's remaining length
/// justifies: every length is checked against [`MAX_PAYLOAD_LEN`] and, when
/// the input length is known, against the bytes left; when it is not known
/// the buffer grows only as bytes arrive. Every error names the byte offset
/// and, when given, the file.
pub struct Reader<R> {
    input: Input<R>,
    path: Option<PathBuf>,
    header: Header,
    /// Offset of the next frame: the end of the valid prefix so far.
    pos: u64,
    /// Reused frame buffer: payload length (4 bytes) then payload, so the
    /// checksummed bytes are contiguous.
    buf: Vec<u8>,
    end: Option<End>,
    /// The error that stopped the reader (other than corruption, which is
    /// in `end`), replayed on later calls.
    stopped: Option<(FormatErrorKind, Option<u64>)>,
    /// The iterator has yielded its final error.
    iter_done: bool,
    /// Check every frame's vectors against the content rules (SPEC.md §5.6).
    content_rules: bool,
    /// The first row of the frame just loaded that breaks them, found
    /// while checksumming and reported once its grammar has passed.
    content_fault: Option<RowFault>,
}

impl Reader<BufReader<File>> {
    /// Opens the data file at `path` and reads its header. Errors name the
    /// path.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, FormatError> {
        let path = path.as_ref();
        let file = File::open(path).map_err(|e| FormatError::io(e, None).with_path(path))?;
        Reader::from_file(file, path)
    }

    /// Reads the data file `file` (named `path` in errors) from its start.
    /// The file's current length bounds every allocation; bytes appended
    /// after this call are not read.
    pub fn from_file(mut file: File, path: impl AsRef<Path>) -> Result<Self, FormatError> {
        let path = path.as_ref();
        let io_err = |e| FormatError::io(e, None).with_path(path);
        let len = file.metadata().map_err(io_err)?.len();
        file.seek(SeekFrom::Start(0)).map_err(io_err)?;
        Reader::with_source(
            BufReader::with_capacity(FILE_BUFFER, file),
            Some(path),
            Some(len),
        )
    }
}

impl<R: Read> Reader<R> {
    /// Reads the header from `inner` (positioned at the start of a data
    /// file of unknown length and name).
    pub fn new(inner: R) -> Result<Self, FormatError> {
        Reader::with_source(inner, None, None)
    }

    /// Like [`Reader::new`], naming the file `path` in every error and, if
    /// `len` is given, reading exactly `len` bytes of `inner` and checking
    /// every length field against the bytes left.
    pub fn with_source(
        inner: R,
        path: Option<&Path>,
        len: Option<u64>,
    ) -> Result<Self, FormatError> {
        let mut input = Input {
            inner,
            consumed: 0,
            limit: len,
        };
        let mut bytes = [0u8; HEADER_LEN];
        let n = input
            .fill(&mut bytes)
            .map_err(|e| FormatError::io(e, Some(0)).with_opt_path(path))?;
        if n < HEADER_LEN {
            let seen = n.min(MAGIC.len());
            let kind = if bytes[..seen] != MAGIC[..seen] {
                FormatErrorKind::NotNidus
            } else {
                FormatErrorKind::TornTail { dropped: n as u64 }
            };
            return Err(FormatError::new(kind, Some(0)).with_opt_path(path));
        }
        let header = Header::decode(&bytes).map_err(|e| e.with_opt_path(path))?;
        Ok(Reader {
            input,
            path: path.map(Path::to_path_buf),
            header,
            pos: HEADER_LEN as u64,
            buf: Vec::new(),
            end: None,
            stopped: None,
            iter_done: false,
            content_rules: false,
            content_fault: None,
        })
    }

    /// Makes the reader check every batch's vectors against the content
    /// rules of SPEC.md §5.6 (each row finite and of unit norm within
    /// [`UNIT_NORM_TOLERANCE`](crate::UNIT_NORM_TOLERANCE)), as nidus-store
    /// does on open and refresh: a frame with a bad row is then
    /// [`FormatErrorKind::Corrupt`] at the frame's offset, its reason naming the
    /// row, exactly as a frame failing its checksum, so the valid prefix
    /// ends before it. The check runs in the pass that computes the
    /// checksum, while each stretch of rows is in cache.
    ///
    /// Off by default: the format's grammar (§5.5) does not constrain the
    /// values, and files written by other tools (or the 1.0 golden file)
    /// may hold any f32s.
    pub fn enforce_content_rules(mut self) -> Self {
        self.content_rules = true;
        self
    }

    /// Whether [`Reader::enforce_content_rules`] is on.
    pub fn content_rules(&self) -> bool {
        self.content_rules
    }

    /// The file's header.
    pub fn header(&self) -> &Header {
        &self.header
    }

    /// The file name errors carry, if one was given.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The end of the valid prefix so far: the offset just past the last
    /// batch returned (or past the header). Once the reader has ended this
    /// equals [`End::valid_end`], where a writable open truncates a torn
    /// tail.
    pub fn valid_end(&self) -> u64 {
        self.pos
    }

    /// How the input ended, once [`Reader::next_into`] has returned
    /// `Ok(false)` or a corruption error; `None` while batches may follow.
    pub fn end(&self) -> Option<&End> {
        self.end.as_ref()
    }

    /// Bytes held by the reader's internal frame buffer (about the largest
    /// frame read so far by [`Reader::next_ref`] or [`Reader::next_into`];
    /// frames read by [`Reader::next_frame_into`] live in the caller's
    /// [`Frame`], see [`Frame::capacity`]): for memory accounting and tests.
    pub fn buffer_capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// Reads the next committed batch into `batch`, replacing its ops and
    /// vectors (their capacity is reused). Returns `Ok(true)` for a batch,
    /// `Ok(false)` when the input ends cleanly or in a torn tail (see
    /// [`Reader::end`]).
    ///
    /// Errors: [`FormatErrorKind::Corrupt`] for a damaged frame followed by more
    /// data (also recorded in [`Reader::end`]), [`FormatErrorKind::UnsupportedVersion`]
    /// for a construct of a newer minor version, [`FormatErrorKind::Io`]. After an
    /// error, `batch` holds no meaningful content and every later call
    /// returns the same error kind.
    pub fn next_into(&mut self, batch: &mut Batch) -> Result<bool, FormatError> {
        let Some(len) = self.next_frame()? else {
            return Ok(false);
        };
        let at = self.pos;
        let payload = &self.buf[4..4 + len];
        let decoded = decode_payload(
            payload,
            &self.header,
            at + FRAME_HEADER_LEN as u64,
            at,
            batch,
        )
        .and_then(|()| content_verdict(self.content_fault.take(), &self.header, at));
        match decoded {
            Ok(()) => {
                self.pos = at + (FRAME_HEADER_LEN + len) as u64;
                Ok(true)
            }
            Err(err) => Err(self.fail(err)),
        }
    }

    /// Reads and validates the next committed batch and lends it out in
    /// place, without allocating: the view borrows the reader's buffer
    /// until the next call. `Ok(None)` at the end (see [`Reader::end`]).
    /// The fastest way to load a file when the caller keeps only part of
    /// each batch (for example its vectors, via
    /// [`BatchRef::append_vectors_to`]). Errors as for
    /// [`Reader::next_into`].
    pub fn next_ref(&mut self) -> Result<Option<BatchRef<'_>>, FormatError> {
        let Some(len) = self.next_frame()? else {
            return Ok(None);
        };
        let view = validate_loaded(
            &self.buf[4..4 + len],
            &self.header,
            self.content_fault.take(),
            &mut self.pos,
            &mut self.end,
            &mut self.stopped,
            self.path.as_deref(),
        )?;
        Ok(Some(view))
    }

    /// [`Reader::next_ref`] into a frame the caller owns: reads and
    /// validates the next committed batch into `frame` (its buffer is
    /// reused) and returns `true`, or `false` at the end (see
    /// [`Reader::end`]); [`Frame::batch`] then lends the batch. Errors as
    /// for [`Reader::next_into`]; `frame` then holds no batch.
    ///
    /// With two frames a caller can apply one batch while another thread
    /// reads the next into the other.
    pub fn next_frame_into(&mut self, frame: &mut Frame) -> Result<bool, FormatError> {
        frame.layout = None;
        // The frame's buffer becomes the reader's for one read.
        std::mem::swap(&mut self.buf, &mut frame.bytes);
        let loaded = self.next_frame();
        std::mem::swap(&mut self.buf, &mut frame.bytes);
        let Some(len) = loaded? else {
            return Ok(false);
        };
        let view = validate_loaded(
            &frame.bytes[4..4 + len],
            &self.header,
            self.content_fault.take(),
            &mut self.pos,
            &mut self.end,
            &mut self.stopped,
            self.path.as_deref(),
        )?;
        frame.layout = Some(Layout::of(&view));
        Ok(true)
    }

    /// Loads the next frame whose checksum verifies into `buf[4..4 + len]`
    /// and returns `len`; `None` at the end. Replays an earlier failure.
    fn next_frame(&mut self) -> Result<Option<usize>, FormatError> {
        if let Some((kind, offset)) = &self.stopped {
            let err = match kind {
                FormatErrorKind::Io => FormatError::io(
                    io::Error::other("the reader stopped after an earlier I/O error"),
                    *offset,
                ),
                other => FormatError::new(other.clone(), *offset),
            };
            return Err(err.with_opt_path(self.path.as_deref()));
        }
        match &self.end {
            Some(End::Corrupt { offset, reason }) => {
                return Err(FormatError::corrupt(*offset, reason.clone())
                    .with_opt_path(self.path.as_deref()));
            }
            Some(_) => return Ok(None),
            None => {}
        }
        self.load_frame().map_err(|err| self.fail(err))
    }

    fn fail(&mut self, err: FormatError) -> FormatError {
        record_failure(
            &mut self.end,
            &mut self.stopped,
            self.path.as_deref(),
            self.pos,
            err,
        )
    }

    /// Reads the next committed batch into a new [`Batch`]; `Ok(None)` at
    /// the end (see [`Reader::next_into`], which avoids the allocation).
    pub fn next_batch(&mut self) -> Result<Option<Batch>, FormatError> {
        let mut batch = Batch::default();
        Ok(self.next_into(&mut batch)?.then_some(batch))
    }

    /// Returns the underlying reader.
    pub fn into_inner(self) -> R {
        self.input.inner
    }

    fn load_frame(&mut self) -> Result<Option<usize>, FormatError> {
        let at = self.pos;
        let io_err = |e| FormatError::io(e, Some(at));
        let mut head = [0u8; FRAME_HEADER_LEN];
        let n = self.input.fill(&mut head).map_err(io_err)?;
        if n == 0 {
            self.end = Some(End::Clean { offset: at });
            return Ok(None);
        }
        if n < FRAME_HEADER_LEN {
            // Too short to hold even a frame header, let alone a frame.
            return self.torn(n as u64);
        }
        let [c0, c1, c2, c3, c4, c5, c6, c7, l0, l1, l2, l3] = head;
        let stored = u64::from_le_bytes([c0, c1, c2, c3, c4, c5, c6, c7]);
        let len_bytes = [l0, l1, l2, l3];
        let len = u32::from_le_bytes(len_bytes);
        if !(MIN_PAYLOAD_LEN..=MAX_PAYLOAD_LEN).contains(&len) || !len.is_multiple_of(4) {
            let reason = format!(
                "frame length {len} is not a multiple of 4 in {MIN_PAYLOAD_LEN}..={MAX_PAYLOAD_LEN}"
            );
            return self.bad_length(&head, reason);
        }
        let len = len as usize;
        let total = 4 + len;
        // Read the payload behind the length into buf[4..]. The length is
        // not trusted yet: with a known input length it is capped by the
        // bytes left; without one, `read_to_end` grows the buffer only as
        // bytes arrive (from GROWTH_STEP, doubling), so a false length cannot
        // make the reader allocate much more than the input holds. Reading
        // into spare capacity also skips zero-filling the buffer.
        let (want, reserve) = match self.input.limit {
            Some(limit) => {
                let left = usize::try_from(limit.saturating_sub(self.input.consumed));
                let want = len.min(left.unwrap_or(usize::MAX));
                (want, want)
            }
            None => (len, len.min(GROWTH_STEP)),
        };
        self.buf.clear();
        self.buf.extend_from_slice(&len_bytes);
        self.buf.reserve_exact(reserve);
        let got = self
            .input
            .read_exactly_or_to_end(&mut self.buf, want)
            .map_err(io_err)?;
        if got < len {
            // The frame runs past the end of the input: the append that
            // wrote it never finished.
            let reason = format!(
                "frame length {len} runs past the end of the input ({got} payload bytes present)"
            );
            return self.torn_unless_frame_follows(got, reason);
        }
        self.content_fault = None;
        let actual = if self.content_rules {
            let (sum, fault) = checksum_and_check(&self.buf[..total], &self.header);
            self.content_fault = fault;
            sum
        } else {
            checksum(&self.buf[..total])
        };
        if actual != stored {
            let reason =
                format!("frame checksum mismatch (stored {stored:#018x}, computed {actual:#018x})");
            let mut probe = [0u8; 1];
            if self.input.fill(&mut probe).map_err(io_err)? == 0 {
                // Whole in length but not in content, and the last thing in
                // the input: the append's later sectors never reached the
                // medium.
                return self.torn_unless_frame_follows(len, reason);
            }
            return Err(FormatError::corrupt(at, reason));
        }
        Ok(Some(len))
    }

    fn torn(&mut self, dropped: u64) -> Result<Option<usize>, FormatError> {
        self.end = Some(End::TornTail {
            offset: self.pos,
            dropped,
        });
        Ok(None)
    }

    /// The frame at `self.pos` did not verify and nothing follows it; its
    /// first `present` payload bytes are in `self.buf[4..]`. It is a torn
    /// tail unless a whole valid frame hides inside those bytes: then the
    /// length field was damaged, committed batches follow, and dropping
    /// them would lose data, so it is corruption (SPEC.md §6.2).
    fn torn_unless_frame_follows(
        &mut self,
        present: usize,
        reason: String,
    ) -> Result<Option<usize>, FormatError> {
        let at = self.pos;
        match find_frame(&self.buf[4..4 + present], self.header.row_bytes()) {
            Scan::Found(p) => Err(FormatError::corrupt(
                at,
                format!(
                    "{reason}; yet a valid frame follows at byte {}",
                    at + (FRAME_HEADER_LEN + p) as u64
                ),
            )),
            Scan::GaveUp => Err(FormatError::corrupt(
                at,
                format!("{reason}; too many frame-like byte runs follow to rule out damage"),
            )),
            Scan::None => self.torn((FRAME_HEADER_LEN + present) as u64),
        }
    }

    /// A frame header whose length is impossible. If it and everything
    /// after it is zero bytes, the file was extended but the data never
    /// written (a torn tail, SPEC.md §6.1); otherwise it is corruption.
    fn bad_length(
        &mut self,
        head: &[u8; FRAME_HEADER_LEN],
        reason: String,
    ) -> Result<Option<usize>, FormatError> {
        let at = self.pos;
        if head.iter().any(|&b| b != 0) {
            return Err(FormatError::corrupt(at, reason));
        }
        let mut scratch = [0u8; 4096];
        match self
            .input
            .zeros_to_end(&mut scratch)
            .map_err(|e| FormatError::io(e, Some(at)))?
        {
            Some(zeros) => self.torn(FRAME_HEADER_LEN as u64 + zeros),
            None => Err(FormatError::corrupt(
                at,
                "a run of zero bytes where a frame should start, followed by data",
            )),
        }
    }
}

impl<R> std::fmt::Debug for Reader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reader")
            .field("path", &self.path)
            .field("header", &self.header)
            .field("valid_end", &self.pos)
            .field("end", &self.end)
            .finish_non_exhaustive()
    }
}

impl<R: Read> Iterator for Reader<R> {
    type Item = Result<Batch, FormatError>;

    /// Yields each committed batch, then, unless the input ended cleanly,
    /// one final error ([`FormatErrorKind::TornTail`], [`FormatErrorKind::Corrupt`], ...):
    /// the strict view, for tools that accept nothing but a clean file. Use
    /// [`Reader::next_into`] to treat a torn tail as a normal end.
    fn next(&mut self) -> Option<Self::Item> {
        if self.iter_done {
            return None;
        }
        match self.next_batch() {
            Ok(Some(batch)) => Some(Ok(batch)),
            Ok(None) => {
                self.iter_done = true;
                let path = self.path.clone();
                self.end
                    .as_ref()
                    .and_then(|end| end.check().err())
                    .map(|e| Err(e.with_opt_path(path.as_deref())))
            }
            Err(e) => {
                self.iter_done = true;
                Some(Err(e))
            }
        }
    }
}
