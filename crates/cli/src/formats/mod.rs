//! The file formats of `import`, `export` and `search --queries`: JSONL,
//! npy and fvecs, read and written as streams in bounded memory (one batch
//! of rows at a time).
//!
//! Readers check everything before the rows reach the store: the syntax, a
//! consistent dimension, finite values, and (for npy and fvecs) that the file
//! holds exactly the rows its header or its size promises. Every error names
//! the file and the line, row or byte offset at fault.

use std::fmt;
use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::Path;

use anyhow::{Context, Result};
use nidus_format::Attributes;

pub mod fvecs;
pub mod jsonl;
pub mod npy;

/// One of the supported file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One JSON object per line: `{"id": ..., "vector": [...], "attrs": {...}}`.
    Jsonl,
    /// NumPy's `.npy`: a 2-D, C-order, little-endian float32 array.
    Npy,
    /// Rows of (little-endian i32 dimension, that many f32).
    Fvecs,
}

impl Format {
    /// The format named on the command line (`jsonl`, `npy`, `fvecs`).
    pub fn from_name(name: &str) -> Option<Format> {
        match name {
            "jsonl" => Some(Format::Jsonl),
            "npy" => Some(Format::Npy),
            "fvecs" => Some(Format::Fvecs),
            _ => None,
        }
    }

    /// The format a file name's extension implies (`.jsonl`/`.ndjson`,
    /// `.npy`, `.fvecs`).
    pub fn from_path(path: &Path) -> Option<Format> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "jsonl" | "ndjson" => Some(Format::Jsonl),
            "npy" => Some(Format::Npy),
            "fvecs" => Some(Format::Fvecs),
            _ => None,
        }
    }

    /// The format from `--format` if given, else from the extension; an
    /// error explains both ways when neither works.
    pub fn resolve(flag: Option<&str>, path: &Path) -> Result<Format, String> {
        if flag.is_none() && path.as_os_str() == STDIO {
            return Err(
                "reading or writing '-' (stdin/stdout) needs --format jsonl|npy|fvecs".into(),
            );
        }
        match flag {
            Some(name) => Format::from_name(name).ok_or_else(|| {
                format!("unknown format '{name}' for --format; valid formats: jsonl, npy, fvecs")
            }),
            None => Format::from_path(path).ok_or_else(|| {
                format!(
                    "cannot tell the format of '{}' from its extension (.jsonl, .ndjson, .npy, \
                     .fvecs); pass --format jsonl|npy|fvecs",
                    path.display()
                )
            }),
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Jsonl => "jsonl",
            Format::Npy => "npy",
            Format::Fvecs => "fvecs",
        })
    }
}

/// The non-vector part of one row read from a file.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The id: from the JSONL `"id"` key, or the 0-based row number for npy
    /// and fvecs; `None` for a JSONL line without one.
    pub id: Option<String>,
    /// The JSONL `"collection"` key, if present.
    pub collection: Option<String>,
    /// The JSONL `"attrs"` object (empty otherwise).
    pub attrs: Attributes,
    /// Where the row is in its file, for messages.
    pub location: Location,
}

/// Where a row is in its file: a JSONL line (1-based) or an npy / fvecs row
/// (0-based, like its id). Displays as `line 7` or `row 6`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    /// A 1-based line of a text file.
    Line(u64),
    /// A 0-based row of a binary matrix.
    Row(u64),
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Line(n) => write!(f, "line {n}"),
            Location::Row(n) => write!(f, "row {n}"),
        }
    }
}

/// A batch of rows with their vectors laid out contiguously.
#[derive(Debug, Clone, Default)]
pub struct RowBatch {
    /// The rows, in file order.
    pub rows: Vec<Row>,
    /// `rows.len() * dim` values, row-major.
    pub vectors: Vec<f32>,
    /// The dimension (0 until the first row is read).
    pub dim: usize,
}

impl RowBatch {
    /// Empties the batch, keeping its allocations.
    pub fn clear(&mut self) {
        self.rows.clear();
        self.vectors.clear();
    }

    /// The vector of row `i`.
    pub fn vector(&self, i: usize) -> &[f32] {
        &self.vectors[i * self.dim..(i + 1) * self.dim]
    }
}

/// A streaming source of rows.
pub trait RowReader {
    /// The dimension, once known (npy and fvecs know it from the start,
    /// JSONL after its first row).
    fn dim(&self) -> Option<usize>;

    /// Clears `batch` and fills it with up to `max_rows` rows; returns how
    /// many (0 at the end of the file). After an error the reader must not
    /// be used again.
    fn read_batch(&mut self, max_rows: usize, batch: &mut RowBatch) -> Result<usize>;

    /// How much of the file has been read, in [0, 1], when known.
    fn fraction_done(&self) -> Option<f64>;
}

/// The path that means standard input (for reading) or output (for
/// writing).
pub const STDIO: &str = "-";

/// Opens `path` (or standard input for `-`) for reading rows in `format`.
/// The size checks of npy and fvecs need a regular file; from a pipe,
/// truncation is found while reading.
pub fn open_reader(path: &Path, format: Format) -> Result<Box<dyn RowReader + Send>> {
    if path.as_os_str() == STDIO {
        let input = BufReader::with_capacity(1 << 20, std::io::stdin());
        return reader_over(input, "<stdin>".to_owned(), None, format);
    }
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let meta = file
        .metadata()
        .with_context(|| format!("cannot stat {}", path.display()))?;
    let len = meta.is_file().then_some(meta.len());
    let input = BufReader::with_capacity(1 << 20, file);
    reader_over(input, path.display().to_string(), len, format)
}

fn reader_over<R: std::io::BufRead + Send + 'static>(
    input: R,
    name: String,
    len: Option<u64>,
    format: Format,
) -> Result<Box<dyn RowReader + Send>> {
    Ok(match format {
        Format::Jsonl => Box::new(jsonl::JsonlReader::new(input, name, len)),
        Format::Npy => Box::new(npy::NpyReader::new(input, name, len)?),
        Format::Fvecs => Box::new(fvecs::FvecsReader::new(input, name, len)?),
    })
}

/// A streaming sink of rows, in one of the [`Format`]s.
pub trait RowWriter {
    /// Writes one row. npy and fvecs keep only the vector.
    fn write_row(
        &mut self,
        collection: &str,
        id: &str,
        vector: &[f32],
        attrs: &Attributes,
    ) -> Result<()>;

    /// Completes the file (npy rewrites its header with the row count) and
    /// flushes it; returns the number of rows written.
    fn finish(self: Box<Self>) -> Result<u64>;
}

/// Creates a writer of `format` into `file`, for vectors of `dim` values.
pub fn create_writer(file: File, format: Format, dim: usize) -> Result<Box<dyn RowWriter>> {
    let out = BufWriter::with_capacity(1 << 20, file);
    Ok(match format {
        Format::Jsonl => Box::new(jsonl::JsonlWriter::new(out)),
        Format::Npy => Box::new(npy::NpyWriter::new(out, dim)?),
        Format::Fvecs => Box::new(fvecs::FvecsWriter::new(out, dim)?),
    })
}

/// Checks that every value of a row is finite; the error names the first
/// bad component.
pub fn check_finite(values: &[f32]) -> Result<(), String> {
    match values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        Some((i, v)) => Err(format!("component {i} is {v} (vectors must be finite)")),
        None => Ok(()),
    }
}

/// Flushes a writer, naming the file on failure.
pub(crate) fn flush(out: &mut impl Write, what: &str) -> Result<()> {
    out.flush().with_context(|| format!("cannot write {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_from_name_and_extension() {
        assert_eq!(Format::from_name("npy"), Some(Format::Npy));
        assert_eq!(Format::from_name("csv"), None);
        assert_eq!(
            Format::from_path(Path::new("a/b.JSONL")),
            Some(Format::Jsonl)
        );
        assert_eq!(
            Format::from_path(Path::new("b.ndjson")),
            Some(Format::Jsonl)
        );
        assert_eq!(Format::from_path(Path::new("b.fvecs")), Some(Format::Fvecs));
        assert_eq!(Format::from_path(Path::new("b")), None);
        assert_eq!(
            Format::resolve(Some("fvecs"), Path::new("x.npy")),
            Ok(Format::Fvecs)
        );
        let e = Format::resolve(None, Path::new("x.csv")).unwrap_err();
        assert!(e.contains("x.csv") && e.contains("--format"), "{e}");
        let e = Format::resolve(Some("csv"), Path::new("x.npy")).unwrap_err();
        assert!(
            e.contains("'csv'") && e.contains("jsonl, npy, fvecs"),
            "{e}"
        );
    }

    #[test]
    fn check_finite_names_the_component() {
        assert!(check_finite(&[1.0, -2.0]).is_ok());
        let e = check_finite(&[1.0, f32::NAN]).unwrap_err();
        assert!(e.contains("component 1 is NaN"), "{e}");
    }
}

#[cfg(test)]
mod hostile_input {
    use super::*;
    use crate::synth::Rng;

    /// Drains a reader, returning rows read or the first error; must never
    /// panic.
    fn drain(mut r: impl RowReader) -> Result<usize> {
        let mut b = RowBatch::default();
        let mut total = 0;
        loop {
            match r.read_batch(3, &mut b)? {
                0 => return Ok(total),
                n => total += n,
            }
        }
    }

    fn mutate(rng: &mut Rng, base: &[u8]) -> Vec<u8> {
        let mut bytes = base.to_vec();
        match rng.below(4) {
            0 => bytes.truncate(rng.below(bytes.len() as u64 + 1) as usize),
            1 => {
                for _ in 0..1 + rng.below(4) {
                    let i = rng.below(bytes.len().max(1) as u64) as usize;
                    if let Some(b) = bytes.get_mut(i) {
                        *b ^= 1 << rng.below(8);
                    }
                }
            }
            2 => {
                let i = rng.below(bytes.len().max(1) as u64) as usize;
                if let Some(b) = bytes.get_mut(i) {
                    *b = rng.next_u64() as u8;
                }
            }
            _ => bytes = (0..rng.below(64)).map(|_| rng.next_u64() as u8).collect(),
        }
        bytes
    }

    #[test]
    fn mutated_files_never_panic() {
        let mut rng = Rng::new(77);
        let none = Attributes::new();
        let mut npy = std::io::Cursor::new(Vec::new());
        let mut fvecs = Vec::new();
        {
            let mut w = Box::new(npy::NpyWriter::new(&mut npy, 3).unwrap());
            let mut f = Box::new(fvecs::FvecsWriter::new(&mut fvecs, 3).unwrap());
            for i in 0..5 {
                let v = [i as f32, 1.0, -2.5];
                w.write_row("", "", &v, &none).unwrap();
                f.write_row("", "", &v, &none).unwrap();
            }
            w.finish().unwrap();
            f.finish().unwrap();
        }
        let npy = npy.into_inner();
        let jsonl = b"{\"id\": \"a\", \"vector\": [1, 2.5e-3, -0], \"attrs\": {\"k\": [\"x\"], \"n\": null}}\n\
                      {\"id\": \"b\\u00e9\", \"vector\": [3, 4, 5], \"collection\": \"c\"}\n"
            .to_vec();
        for _ in 0..3000 {
            let bytes = mutate(&mut rng, &npy);
            let len = Some(bytes.len() as u64);
            if let Ok(r) = npy::NpyReader::new(&bytes[..], "x".into(), len) {
                let _ = drain(r);
            }
            let bytes = mutate(&mut rng, &fvecs);
            let len = (rng.below(2) == 0).then_some(bytes.len() as u64);
            if let Ok(r) = fvecs::FvecsReader::new(&bytes[..], "x".into(), len) {
                let _ = drain(r);
            }
            let bytes = mutate(&mut rng, &jsonl);
            let _ = drain(jsonl::JsonlReader::new(&bytes[..], "x".into(), None));
        }
    }
}
