//! The store's one error type: a kind a program can match on, a message a
//! person can act on (naming the file, offset or argument at fault), and the
//! underlying cause where there is one.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// The store's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, for programs: match on [`Error::kind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Another writer holds the store's write lock (SPEC.md §6.3).
    Locked,
    /// A vector, query or file has a different dimension than the store.
    DimensionMismatch,
    /// An argument was rejected before anything was written: empty id, NaN or
    /// infinite component, zero vector, bad glob, absurd size, ...
    InvalidInput,
    /// The data file is damaged; [`Error::offset`] gives the byte offset.
    Corrupt,
    /// A write was attempted on a store opened read-only.
    ReadOnly,
    /// A named collection (or the store itself) does not exist.
    NotFound,
    /// The operating system refused a read, write, sync or rename.
    Io,
    /// An allocation failed or the configured memory budget would be exceeded.
    OutOfMemory,
}

impl ErrorKind {
    fn label(self) -> &'static str {
        match self {
            ErrorKind::Locked => "store locked",
            ErrorKind::DimensionMismatch => "dimension mismatch",
            ErrorKind::InvalidInput => "invalid input",
            ErrorKind::Corrupt => "corrupt store file",
            ErrorKind::ReadOnly => "read-only store",
            ErrorKind::NotFound => "not found",
            ErrorKind::Io => "I/O error",
            ErrorKind::OutOfMemory => "out of memory",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// A store error: `kind()` for programs, `Display` for people.
///
/// Implements [`std::error::Error`] + `Send` + `Sync` + `'static`, so it
/// converts into `anyhow::Error` with `?`.
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    path: Option<PathBuf>,
    offset: Option<u64>,
    dimensions: Option<(usize, usize)>,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl Error {
    /// A new error of `kind` with a human-readable `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            path: None,
            offset: None,
            dimensions: None,
            source: None,
        }
    }

    /// What went wrong, for matching.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The file the error is about, when there is one.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The byte offset in the data file, for [`ErrorKind::Corrupt`] errors.
    pub fn offset(&self) -> Option<u64> {
        self.offset
    }

    /// For [`ErrorKind::DimensionMismatch`] errors, always in this order:
    /// `(the store's dimension, the dimension it was given)`, whatever gave
    /// it: a record's vector, a query, or the [`Options::new`] of an open.
    ///
    /// ```
    /// use nidus_store::{Options, Record, Search, Store};
    /// # let tmp = tempfile::tempdir().expect("temp dir");
    /// let mut store = Store::open(tmp.path(), Options::new(64))?;
    /// let e = store.upsert("docs", &[Record::new("a", vec![1.0; 128])]).unwrap_err();
    /// assert_eq!(e.dimensions(), Some((64, 128)));
    /// let e = store.search(&[1.0; 128], Search::top(1)).unwrap_err();
    /// assert_eq!(e.dimensions(), Some((64, 128)));
    /// drop(store);
    /// let e = Store::open(tmp.path(), Options::new(128)).unwrap_err();
    /// assert_eq!(e.dimensions(), Some((64, 128)));
    /// assert!(e.to_string().contains("the store has dimension 64; the options ask for 128"), "{e}");
    /// # Ok::<(), nidus_store::Error>(())
    /// ```
    ///
    /// [`Options::new`]: crate::Options::new
    pub fn dimensions(&self) -> Option<(usize, usize)> {
        self.dimensions
    }

    /// The human-readable message, without the kind or path prefix.
    pub fn message(&self) -> &str {
        &self.message
    }

    pub(crate) fn with_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.path = Some(path.into());
        self
    }

    pub(crate) fn with_offset(mut self, offset: u64) -> Self {
        self.offset = Some(offset);
        self
    }

    pub(crate) fn with_source(
        mut self,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::InvalidInput, message)
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::NotFound, message)
    }

    pub(crate) fn read_only(operation: &str) -> Self {
        Error::new(
            ErrorKind::ReadOnly,
            format!("{operation} needs a writable store, but this one was opened read-only"),
        )
    }

    /// `what` (a vector, a query) has dimension `got`; the store's is
    /// `store`.
    pub(crate) fn dimension(store: usize, got: usize, what: &str) -> Self {
        let mut e = Error::new(
            ErrorKind::DimensionMismatch,
            format!("{what} has dimension {got}, but the store's dimension is {store}"),
        );
        e.dimensions = Some((store, got));
        e
    }

    /// An open whose options ask for dimension `asked` found a store of
    /// dimension `store`. Same order as [`Error::dimension`].
    pub(crate) fn open_dimension(store: usize, asked: usize) -> Self {
        let mut e = Error::new(
            ErrorKind::DimensionMismatch,
            format!("the store has dimension {store}; the options ask for {asked}"),
        );
        e.dimensions = Some((store, asked));
        e
    }

    /// Stores searched together differ in dimension: names both stores.
    pub(crate) fn shard_dimensions(first: (&Path, usize), other: (&Path, usize)) -> Self {
        let mut e = Error::new(
            ErrorKind::DimensionMismatch,
            format!(
                "stores searched together must share a dimension, but {} has {} and {} has {}",
                first.0.display(),
                first.1,
                other.0.display(),
                other.1
            ),
        );
        e.dimensions = Some((first.1, other.1));
        e
    }

    pub(crate) fn oom(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::OutOfMemory, message)
    }

    /// An I/O failure while doing `what` (e.g. "appending a batch").
    pub(crate) fn io(what: &str, path: &Path, err: io::Error) -> Self {
        Error::new(ErrorKind::Io, format!("{what}: {err}"))
            .with_path(path)
            .with_source(err)
    }

    pub(crate) fn corrupt(message: impl Into<String>, path: &Path, offset: u64) -> Self {
        Error::new(ErrorKind::Corrupt, message)
            .with_path(path)
            .with_offset(offset)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.kind)?;
        if let Some(path) = &self.path {
            write!(f, " in {}", path.display())?;
        }
        if let Some(offset) = self.offset {
            write!(f, " at byte {offset}")?;
        }
        write!(f, ": {}", self.message)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl From<std::collections::TryReserveError> for Error {
    fn from(e: std::collections::TryReserveError) -> Self {
        Error::oom(format!("allocation failed: {e}")).with_source(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_kind_path_offset_and_message() {
        let e = Error::corrupt("bad checksum", Path::new("/s/data"), 4096);
        assert_eq!(e.kind(), ErrorKind::Corrupt);
        assert_eq!(e.offset(), Some(4096));
        assert_eq!(
            e.to_string(),
            "corrupt store file in /s/data at byte 4096: bad checksum"
        );
    }

    #[test]
    fn works_with_anyhow_question_mark() {
        fn inner() -> anyhow::Result<()> {
            Err(Error::dimension(384, 3, "vector \"a\""))?;
            Ok(())
        }
        let err = inner().unwrap_err();
        let e = err.downcast_ref::<Error>().expect("keeps the typed error");
        assert_eq!(e.kind(), ErrorKind::DimensionMismatch);
        assert_eq!(e.dimensions(), Some((384, 3)));
        assert!(err.to_string().contains("384") && err.to_string().contains('3'));
    }

    #[test]
    fn io_errors_keep_their_source() {
        let e = Error::io(
            "appending a batch",
            Path::new("x"),
            io::Error::other("disk on fire"),
        );
        assert_eq!(e.kind(), ErrorKind::Io);
        assert!(std::error::Error::source(&e).is_some());
        assert!(e.to_string().contains("disk on fire"));
    }
}
