//! The one error type of the crate: a typed [`FormatErrorKind`] plus where it
//! happened (file and byte offset), so every message can point at the fault.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use crate::header::Version;

/// What went wrong. Callers match on this to tell the cases apart; the
/// enum is non-exhaustive so later versions can add cases.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FormatErrorKind {
    /// An I/O operation failed; [`FormatError::io_error`] holds the cause.
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
    /// mid-append (SPEC.md §6.2). Everything before [`FormatError::offset`] is intact.
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

/// An error of the nidus format layer: its [`FormatErrorKind`], the file it
/// concerns (when known), the byte offset at fault (when there is one), and
/// the underlying I/O error for [`FormatErrorKind::Io`].
///
/// `Display` names all of them, e.g.
/// `data.nidus: byte 4132: corrupt frame: checksum mismatch`.
#[derive(Debug)]
pub struct FormatError {
    kind: FormatErrorKind,
    path: Option<PathBuf>,
    offset: Option<u64>,
    io: Option<io::Error>,
}

impl FormatError {
    /// A new error of `kind` at `offset` (if any), not yet tied to a file.
    pub fn new(kind: FormatErrorKind, offset: Option<u64>) -> Self {
        FormatError {
            kind,
            path: None,
            offset,
            io: None,
        }
    }

    /// A [`FormatErrorKind::Io`] error wrapping `err`, at `offset` (if any).
    pub fn io(err: io::Error, offset: Option<u64>) -> Self {
        FormatError {
            kind: FormatErrorKind::Io,
            path: None,
            offset,
            io: Some(err),
        }
    }

    pub(crate) fn corrupt(offset: u64, reason: impl Into<String>) -> Self {
        FormatError::new(
            FormatErrorKind::Corrupt {
                reason: reason.into(),
            },
            Some(offset),
        )
    }

    pub(crate) fn invalid_input(reason: impl Into<String>) -> Self {
        FormatError::new(
            FormatErrorKind::InvalidInput {
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

    /// Like [`FormatError::with_path`], for an optional path.
    pub(crate) fn with_opt_path(self, path: Option<&Path>) -> Self {
        match path {
            Some(p) => self.with_path(p),
            None => self,
        }
    }

    /// What went wrong.
    pub fn kind(&self) -> &FormatErrorKind {
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

    /// The underlying I/O error of a [`FormatErrorKind::Io`] error.
    pub fn io_error(&self) -> Option<&io::Error> {
        self.io.as_ref()
    }

    /// True for [`FormatErrorKind::TornTail`].
    pub fn is_torn_tail(&self) -> bool {
        matches!(self.kind, FormatErrorKind::TornTail { .. })
    }

    /// True for [`FormatErrorKind::Corrupt`] and [`FormatErrorKind::NotNidus`].
    pub fn is_corrupt(&self) -> bool {
        matches!(
            self.kind,
            FormatErrorKind::Corrupt { .. } | FormatErrorKind::NotNidus
        )
    }
}

impl fmt::Display for FormatErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FormatErrorKind::Io => f.write_str("I/O error"),
            FormatErrorKind::NotNidus => f.write_str("not a nidus data file (bad magic)"),
            FormatErrorKind::UnsupportedVersion { file, supported } => write!(
                f,
                "file format version {file} is newer than this library reads \
                 (it reads up to {supported})"
            ),
            FormatErrorKind::UnsupportedElementType { code } => {
                write!(f, "unsupported vector element type code {code}")
            }
            FormatErrorKind::TornTail { dropped } => write!(
                f,
                "torn tail: the last write was cut short ({dropped} trailing bytes dropped)"
            ),
            FormatErrorKind::Corrupt { reason } => write!(f, "corrupt data: {reason}"),
            FormatErrorKind::InvalidInput { reason } => write!(f, "invalid input: {reason}"),
            FormatErrorKind::Poisoned => f.write_str(
                "an earlier write failed and could not be undone; \
                 reopen the store to recover",
            ),
        }
    }
}

impl fmt::Display for FormatError {
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

impl std::error::Error for FormatError {
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
impl From<FormatError> for io::Error {
    fn from(err: FormatError) -> Self {
        let kind = match (&err.kind, &err.io) {
            (FormatErrorKind::Io, Some(io)) => io.kind(),
            (FormatErrorKind::Io, None) | (FormatErrorKind::Poisoned, _) => io::ErrorKind::Other,
            (
                FormatErrorKind::UnsupportedVersion { .. }
                | FormatErrorKind::UnsupportedElementType { .. },
                _,
            ) => io::ErrorKind::Unsupported,
            (FormatErrorKind::InvalidInput { .. }, _) => io::ErrorKind::InvalidInput,
            _ => io::ErrorKind::InvalidData,
        };
        io::Error::new(kind, err)
    }
}

impl From<io::Error> for FormatError {
    fn from(err: io::Error) -> Self {
        FormatError::io(err, None)
    }
}
