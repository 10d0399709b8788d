//! The streaming reader (SPEC.md §6.2): header, then committed batches in
//! order, then a report of where and why the valid prefix ends.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::batch::Batch;
use crate::checksum::checksum;
use crate::codec::decode_payload;
use crate::error::{Error, ErrorKind};
use crate::frame::{FRAME_HEADER_LEN, MAX_PAYLOAD_LEN, MIN_PAYLOAD_LEN};
use crate::header::{HEADER_LEN, Header, MAGIC};

/// When the input's length is unknown, a payload buffer grows by at most
/// this much (or doubles) per read, so a damaged length field cannot make
/// the reader allocate much more than the bytes that actually arrive.
const GROWTH_STEP: usize = 1 << 20;

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

    /// `Ok` for a clean end; the typed error ([`ErrorKind::TornTail`] or
    /// [`ErrorKind::Corrupt`], at [`End::valid_end`]) otherwise. For callers
    /// that accept nothing but a clean file.
    pub fn check(&self) -> Result<(), Error> {
        match self {
            End::Clean { .. } => Ok(()),
            End::TornTail { offset, dropped } => Err(Error::new(
                ErrorKind::TornTail { dropped: *dropped },
                Some(*offset),
            )),
            End::Corrupt { offset, reason } => Err(Error::corrupt(*offset, reason.clone())),
        }
    }
}

/// The bytes under the reader, with a byte count and an optional limit.
struct Input<R> {
    inner: R,
    /// Bytes read from `inner` so far.
    consumed: u64,
    /// The input's length when known; reads never go past it.
    limit: Option<u64>,
}

impl<R: Read> Input<R> {
    /// Fills `buf` as far as the input allows; returns how many bytes were
    /// read (less than `buf.len()` only at the end of the input).
    fn fill(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = match self.limit {
            Some(limit) => {
                let left = limit.saturating_sub(self.consumed);
                buf.len().min(usize::try_from(left).unwrap_or(usize::MAX))
            }
            None => buf.len(),
        };
        let mut n = 0;
        while n < want {
            match self.inner.read(&mut buf[n..want]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.consumed += n as u64;
        Ok(n)
    }

    /// Reads to the end of the input; returns `Some(count)` if every byte
    /// read was zero, `None` at the first non-zero byte.
    fn zeros_to_end(&mut self, scratch: &mut [u8]) -> io::Result<Option<u64>> {
        let mut count = 0u64;
        loop {
            let n = self.fill(scratch)?;
            if scratch[..n].iter().any(|&b| b != 0) {
                return Ok(None);
            }
            count += n as u64;
            if n < scratch.len() {
                return Ok(Some(count));
            }
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
/// the file is an error ([`ErrorKind::Corrupt`]), never silently skipped.
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
    stopped: Option<(ErrorKind, Option<u64>)>,
    /// The iterator has yielded its final error.
    iter_done: bool,
}

impl Reader<BufReader<File>> {
    /// Opens the data file at `path` and reads its header. Errors name the
    /// path.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let file = File::open(path).map_err(|e| Error::io(e, None).with_path(path))?;
        Reader::from_file(file, path)
    }

    /// Reads the data file `file` (named `path` in errors) from its start.
    /// The file's current length bounds every allocation; bytes appended
    /// after this call are not read.
    pub fn from_file(mut file: File, path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let io_err = |e| Error::io(e, None).with_path(path);
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
    pub fn new(inner: R) -> Result<Self, Error> {
        Reader::with_source(inner, None, None)
    }

    /// Like [`Reader::new`], naming the file `path` in every error and, if
    /// `len` is given, reading exactly `len` bytes of `inner` and checking
    /// every length field against the bytes left.
    pub fn with_source(inner: R, path: Option<&Path>, len: Option<u64>) -> Result<Self, Error> {
        let mut input = Input {
            inner,
            consumed: 0,
            limit: len,
        };
        let mut bytes = [0u8; HEADER_LEN];
        let n = input
            .fill(&mut bytes)
            .map_err(|e| Error::io(e, Some(0)).with_opt_path(path))?;
        if n < HEADER_LEN {
            let seen = n.min(MAGIC.len());
            let kind = if bytes[..seen] != MAGIC[..seen] {
                ErrorKind::NotNidus
            } else {
                ErrorKind::TornTail { dropped: n as u64 }
            };
            return Err(Error::new(kind, Some(0)).with_opt_path(path));
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
        })
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
    /// frame read so far): for memory accounting and tests.
    pub fn buffer_capacity(&self) -> usize {
        self.buf.capacity()
    }

    /// Reads the next committed batch into `batch`, replacing its ops and
    /// vectors (their capacity is reused). Returns `Ok(true)` for a batch,
    /// `Ok(false)` when the input ends cleanly or in a torn tail (see
    /// [`Reader::end`]).
    ///
    /// Errors: [`ErrorKind::Corrupt`] for a damaged frame followed by more
    /// data (also recorded in [`Reader::end`]), [`ErrorKind::UnsupportedVersion`]
    /// for a construct of a newer minor version, [`ErrorKind::Io`]. After an
    /// error, `batch` holds no meaningful content and every later call
    /// returns the same error kind.
    pub fn next_into(&mut self, batch: &mut Batch) -> Result<bool, Error> {
        if let Some((kind, offset)) = &self.stopped {
            let err = match kind {
                ErrorKind::Io => Error::io(
                    io::Error::other("the reader stopped after an earlier I/O error"),
                    *offset,
                ),
                other => Error::new(other.clone(), *offset),
            };
            return Err(err.with_opt_path(self.path.as_deref()));
        }
        match &self.end {
            Some(End::Corrupt { offset, reason }) => {
                return Err(
                    Error::corrupt(*offset, reason.clone()).with_opt_path(self.path.as_deref())
                );
            }
            Some(_) => return Ok(false),
            None => {}
        }
        match self.read_frame(batch) {
            Ok(more) => Ok(more),
            Err(err) => {
                if let ErrorKind::Corrupt { reason } = err.kind() {
                    self.end = Some(End::Corrupt {
                        offset: self.pos,
                        reason: reason.clone(),
                    });
                } else {
                    self.stopped = Some((err.kind().clone(), err.offset()));
                }
                Err(err.with_opt_path(self.path.as_deref()))
            }
        }
    }

    /// Reads the next committed batch into a new [`Batch`]; `Ok(None)` at
    /// the end (see [`Reader::next_into`], which avoids the allocation).
    pub fn next_batch(&mut self) -> Result<Option<Batch>, Error> {
        let mut batch = Batch::default();
        Ok(self.next_into(&mut batch)?.then_some(batch))
    }

    /// Returns the underlying reader.
    pub fn into_inner(self) -> R {
        self.input.inner
    }

    fn read_frame(&mut self, batch: &mut Batch) -> Result<bool, Error> {
        let at = self.pos;
        let io_err = |e| Error::io(e, Some(at));
        let mut head = [0u8; FRAME_HEADER_LEN];
        let n = self.input.fill(&mut head).map_err(io_err)?;
        if n == 0 {
            self.end = Some(End::Clean { offset: at });
            return Ok(false);
        }
        if n < FRAME_HEADER_LEN {
            return self.torn(n as u64);
        }
        let stored = u64::from_le_bytes(head[..8].try_into().unwrap_or_default());
        let len_bytes: [u8; 4] = head[8..].try_into().unwrap_or_default();
        let len = u32::from_le_bytes(len_bytes);
        if !(MIN_PAYLOAD_LEN..=MAX_PAYLOAD_LEN).contains(&len) || !len.is_multiple_of(4) {
            let reason = format!(
                "frame length {len} is not a multiple of 4 in {MIN_PAYLOAD_LEN}..={MAX_PAYLOAD_LEN}"
            );
            return self.bad_frame(&head, None, reason);
        }
        let len = len as usize;
        if let Some(limit) = self.input.limit {
            let left = limit.saturating_sub(self.input.consumed);
            if len as u64 > left {
                // The frame runs past the end of the input: the append that
                // wrote it never finished. Nothing is read or allocated.
                self.input.consumed = limit;
                return self.torn(limit - at);
            }
        }

        // Read the payload behind the length, growing the buffer only as
        // bytes arrive (the length is not yet trusted).
        let total = 4 + len;
        let mut have: usize = 4;
        loop {
            let target = if self.input.limit.is_some() {
                total
            } else {
                total.min(have.saturating_mul(2).max(GROWTH_STEP))
            };
            if self.buf.len() < target {
                self.buf.resize(target, 0);
            }
            let got = self
                .input
                .fill(&mut self.buf[have..target])
                .map_err(io_err)?;
            have += got;
            if have < target {
                return self.torn((FRAME_HEADER_LEN - 4 + have) as u64);
            }
            if have == total {
                break;
            }
        }
        self.buf[..4].copy_from_slice(&len_bytes);
        let actual = checksum(&self.buf[..total]);
        if actual != stored {
            let reason =
                format!("frame checksum mismatch (stored {stored:#018x}, computed {actual:#018x})");
            return self.bad_frame(&head, Some(total), reason);
        }
        let payload_at = at + FRAME_HEADER_LEN as u64;
        decode_payload(&self.buf[4..total], &self.header, payload_at, at, batch)?;
        self.pos = at + (FRAME_HEADER_LEN + len) as u64;
        Ok(true)
    }

    fn torn(&mut self, dropped: u64) -> Result<bool, Error> {
        self.end = Some(End::TornTail {
            offset: self.pos,
            dropped,
        });
        Ok(false)
    }

    /// A frame that does not verify: a torn tail if it is the last thing in
    /// the input or everything from it on is zero bytes; corruption
    /// otherwise (SPEC.md §6.2). `payload` is the number of bytes of
    /// `self.buf` read for the frame, if its length was plausible.
    fn bad_frame(
        &mut self,
        head: &[u8; FRAME_HEADER_LEN],
        payload: Option<usize>,
        reason: String,
    ) -> Result<bool, Error> {
        let at = self.pos;
        let frame_zero = head.iter().all(|&b| b == 0)
            && payload.is_none_or(|n| self.buf[4..n].iter().all(|&b| b == 0));
        let frame_len = (FRAME_HEADER_LEN - 4 + payload.unwrap_or(4)) as u64;
        let mut scratch = [0u8; 4096];
        let rest = if frame_zero || payload.is_some() {
            // Either way we must know what follows: nothing (torn), only
            // zeros (torn, if the frame is zero too), or data (corrupt).
            let mut one = [0u8; 1];
            let n = self
                .input
                .fill(&mut one)
                .map_err(|e| Error::io(e, Some(at)))?;
            if n == 0 {
                return self.torn(frame_len);
            }
            if one[0] == 0 && frame_zero {
                self.input
                    .zeros_to_end(&mut scratch)
                    .map_err(|e| Error::io(e, Some(at)))?
                    .map(|z| z + 1)
            } else {
                None
            }
        } else {
            None
        };
        match rest {
            Some(zeros) if frame_zero => self.torn(frame_len + zeros),
            _ => Err(Error::corrupt(at, reason)),
        }
    }
}

impl<R: Read> Iterator for Reader<R> {
    type Item = Result<Batch, Error>;

    /// Yields each committed batch, then, unless the input ended cleanly,
    /// one final error ([`ErrorKind::TornTail`], [`ErrorKind::Corrupt`], ...):
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
