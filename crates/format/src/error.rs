//! The one error type of the crate: a typed [`ErrorKind`] plus where it
//! happened (file and byte offset), so every message can point at the fault.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use crate::header::Version;

/// What went wrong. Callers match on this to tell the cases apart; the
/// enum is non-exhaustive so later versions can add cases.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// An I/O operation failed; [`Error::io_error`] holds the cause.
    Io,
    /// The file does not start with the nidus magic (SPEC.md §3): it is not
    /// a nidus data file, or its first bytes were overwritten.
    NotNidus,
    /// The file's major format version is newer than this library reads,
    /// or a frame uses a feature of a newer minor version (SPEC.md §8).
    UnsupportedVersion {
        /// The version recorded in the file.
        file: Version,
        /// The newest version this library reads and writes.
        supported: Version,
    },
    /// The header names an element type this library cannot decode
    /// (SPEC.md §3: codes are reserved for f16 and i8).
    UnsupportedElementType {
        /// The element type code found in the header.
        code: u8,
    },
    /// The file ends inside its header or its last frame: the writer died
    /// mid-append (SPEC.md §6.2). Everything before [`Error::offset`] is intact.
    TornTail {
        /// How many bytes from the offset to the end of the input were dropped.
        dropped: u64,
    },
    /// Bytes that were written whole no longer decode: a checksum mismatch
    /// followed by more data, a bad header checksum, or a checksummed
    /// payload that breaks the grammar (SPEC.md §6.2).
    Corrupt {
        /// What exactly is wrong, for the message.
        reason: String,
    },
    /// The caller handed the encoder something the format cannot hold
    /// (vector rows that do not match the upserts, a zero dimension, a
    /// string or batch beyond the format's limits).
    InvalidInput {
        /// What exactly is wrong, for the message.
        reason: String,
    },
    /// An earlier write or sync failed and the file could not be put back
    /// into a known state; this appender refuses further writes. Reopening
    /// the store recovers (SPEC.md §6.2).
    Poisoned,
}

/// An error of the nidus format layer: its [`ErrorKind`], the file it
/// concerns (when known), the byte offset at fault (when there is one), and
/// the underlying I/O error for [`ErrorKind::Io`].
///
/// `Display` names all of them, e.g.
/// `data.nidus: byte 4132: corrupt frame: checksum mismatch`.
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    path: Option<PathBuf>,
    offset: Option<u64>,
    io: Option<io::Error>,
}

impl Error {
    /// A new error of `kind` at `offset` (if any), not yet tied to a file.
    pub fn new(kind: ErrorKind, offset: Option<u64>) -> Self {
        Error {
            kind,
            path: None,
            offset,
            io: None,
        }
    }

    /// An [`ErrorKind::Io`] error wrapping `err`, at `offset` (if any).
    pub fn io(err: io::Error, offset: Option<u64>) -> Self {
        Error {
            kind: ErrorKind::Io,
            path: None,
            offset,
            io: Some(err),
        }
    }

    pub(crate) fn corrupt(offset: u64, reason: impl Into<String>) -> Self {
        Error::new(
            ErrorKind::Corrupt {
                reason: reason.into(),
            },
            Some(offset),
        )
    }

    pub(crate) fn invalid_input(reason: impl Into<String>) -> Self {
        Error::new(
            ErrorKind::InvalidInput {
                reason: reason.into(),
            },
            None,
        )
    }

    /// Ties the error to `path`, unless it already names a file.
    pub fn with_path(mut self, path: impl Into<PathBuf>) -> Self {
        if self.path.is_none() {
            self.path = Some(path.into());
        }
        self
    }

    /// Like [`Error::with_path`], for an optional path.
    pub(crate) fn with_opt_path(self, path: Option<&Path>) -> Self {
        match path {
            Some(p) => self.with_path(p),
            None => self,
        }
    }

    /// What went wrong.
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// The file the error concerns, when the caller told the reader or
    /// appender its name.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The byte offset (from the start of the file) at fault, when the
    /// error concerns a place in the file.
    pub fn offset(&self) -> Option<u64> {
        self.offset
    }

    /// The underlying I/O error of an [`ErrorKind::Io`] error.
    pub fn io_error(&self) -> Option<&io::Error> {
        self.io.as_ref()
    }

    /// True for [`ErrorKind::TornTail`].
    pub fn is_torn_tail(&self) -> bool {
        matches!(self.kind, ErrorKind::TornTail { .. })
    }

    /// True for [`ErrorKind::Corrupt`] and [`ErrorKind::NotNidus`].
    pub fn is_corrupt(&self) -> bool {
        matches!(self.kind, ErrorKind::Corrupt { .. } | ErrorKind::NotNidus)
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::Io => f.write_str("I/O error"),
            ErrorKind::NotNidus => f.write_str("not a nidus data file (bad magic)"),
            ErrorKind::UnsupportedVersion { file, supported } => write!(
                f,
                "file format version {file} is newer than this library reads \
                 (it reads up to {supported})"
            ),
            ErrorKind::UnsupportedElementType { code } => {
                write!(f, "unsupported vector element type code {code}")
            }
            ErrorKind::TornTail { dropped } => write!(
                f,
                "torn tail: the last write was cut short ({dropped} trailing bytes dropped)"
            ),
            ErrorKind::Corrupt { reason } => write!(f, "corrupt data: {reason}"),
            ErrorKind::InvalidInput { reason } => write!(f, "invalid input: {reason}"),
            ErrorKind::Poisoned => f.write_str(
                "an earlier write failed and could not be undone; \
                 reopen the store to recover",
            ),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(path) = &self.path {
            write!(f, "{}: ", path.display())?;
        }
        if let Some(offset) = self.offset {
            write!(f, "byte {offset}: ")?;
        }
        write!(f, "{}", self.kind)?;
        if let Some(io) = &self.io {
            write!(f, ": {io}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.io
            .as_ref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// For callers that speak `io::Result`: I/O errors keep their kind;
/// corruption, torn tails and foreign files become `InvalidData`, version
/// and element-type refusals `Unsupported`, bad arguments `InvalidInput`.
/// The nidus error stays reachable as the source.
impl From<Error> for io::Error {
    fn from(err: Error) -> Self {
        let kind = match (&err.kind, &err.io) {
            (ErrorKind::Io, Some(io)) => io.kind(),
            (ErrorKind::Io, None) | (ErrorKind::Poisoned, _) => io::ErrorKind::Other,
            (
                ErrorKind::UnsupportedVersion { .. } | ErrorKind::UnsupportedElementType { .. },
                _,
            ) => io::ErrorKind::Unsupported,
            (ErrorKind::InvalidInput { .. }, _) => io::ErrorKind::InvalidInput,
            _ => io::ErrorKind::InvalidData,
        };
        io::Error::new(kind, err)
    }
}

impl From<io::Error> for Error {
    fn from(err: io::Error) -> Self {
        Error::io(err, None)
    }
}
