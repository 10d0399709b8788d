//! fvecs (the TEXMEX / ANN-benchmarks format): each row is a little-endian
//! i32 dimension followed by that many little-endian f32. Row `i` gets the
//! id `"i"`.
//!
//! With the file size known, a size that is not a whole number of rows is
//! refused before any row is returned; every row's dimension field must equal
//! the first one.

use std::io::{Read, Write};

use anyhow::{Context, Result, anyhow, bail};
use nidus_format::Attributes;

use super::{Location, Row, RowBatch, RowReader, RowWriter, check_finite, flush};

/// The largest dimension accepted; larger fields are damage, not data.
pub const MAX_DIM: usize = 1 << 20;

/// Reads the rows of an fvecs file.
pub struct FvecsReader<R> {
    input: R,
    name: String,
    dim: usize,
    /// The first row's dimension field, already consumed by `new`.
    pending_dim_field: bool,
    next_row: u64,
    total_rows: Option<u64>,
    bytes: Vec<u8>,
}

impl<R: Read> FvecsReader<R> {
    /// Reads the first row's dimension; with `file_len` known, also checks
    /// that the file is a whole number of rows.
    pub fn new(mut input: R, name: String, file_len: Option<u64>) -> Result<Self> {
        let mut field = [0u8; 4];
        let got =
            read_full(&mut input, &mut field).with_context(|| format!("cannot read {name}"))?;
        if got == 0 {
            // An empty file is an empty matrix of unknown dimension.
            return Ok(FvecsReader {
                input,
                name,
                dim: 0,
                pending_dim_field: false,
                next_row: 0,
                total_rows: Some(0),
                bytes: Vec::new(),
            });
        }
        if got < 4 {
            bail!("{name}: truncated fvecs file: the first row's dimension field is cut short");
        }
        let raw = i32::from_le_bytes(field);
        let dim = usize::try_from(raw)
            .ok()
            .filter(|&d| (1..=MAX_DIM).contains(&d))
            .ok_or_else(|| {
                anyhow!("{name}: fvecs row 0 has dimension {raw} (byte offset 0); expected 1 to {MAX_DIM}")
            })?;
        let row_bytes = 4 + 4 * dim as u64;
        let mut total_rows = None;
        if let Some(len) = file_len {
            if len % row_bytes != 0 {
                bail!(
                    "{name}: truncated or inconsistent fvecs file: {len} bytes is not a whole number \
                     of rows of dimension {dim} ({row_bytes} bytes each); {} whole rows, then {} bytes",
                    len / row_bytes,
                    len % row_bytes
                );
            }
            total_rows = Some(len / row_bytes);
        }
        Ok(FvecsReader {
            input,
            name,
            dim,
            pending_dim_field: true,
            next_row: 0,
            total_rows,
            bytes: Vec::new(),
        })
    }

    fn row_offset(&self, row: u64) -> u64 {
        row * (4 + 4 * self.dim as u64)
    }

    /// Reads one row's values into `batch`; false at a clean end of file.
    fn read_row(&mut self, batch: &mut RowBatch) -> Result<bool> {
        let row = self.next_row;
        if self.pending_dim_field {
            self.pending_dim_field = false;
        } else {
            let mut field = [0u8; 4];
            let got = read_full(&mut self.input, &mut field)
                .with_context(|| format!("cannot read {}", self.name))?;
            if got == 0 {
                return Ok(false);
            }
            if got < 4 {
                bail!(
                    "{}: truncated fvecs file: row {row} (byte offset {}) ends inside its dimension field",
                    self.name,
                    self.row_offset(row)
                );
            }
            let raw = i32::from_le_bytes(field);
            if usize::try_from(raw).ok() != Some(self.dim) {
                bail!(
                    "{}: fvecs row {row} (byte offset {}) has dimension {raw}, row 0 has {}",
                    self.name,
                    self.row_offset(row),
                    self.dim
                );
            }
        }
        self.bytes.resize(self.dim * 4, 0);
        let got = read_full(&mut self.input, &mut self.bytes)
            .with_context(|| format!("cannot read {}", self.name))?;
        if got < self.bytes.len() {
            bail!(
                "{}: truncated fvecs file: row {row} (byte offset {}) has {got} of its {} value bytes",
                self.name,
                self.row_offset(row),
                self.bytes.len()
            );
        }
        let start = batch.vectors.len();
        batch.vectors.extend(
            self.bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
        );
        check_finite(&batch.vectors[start..])
            .map_err(|e| anyhow!("{}: row {row}: {e}", self.name))?;
        batch.rows.push(Row {
            id: Some(row.to_string()),
            collection: None,
            attrs: Attributes::new(),
            location: Location::Row(row),
        });
        self.next_row += 1;
        Ok(true)
    }
}

/// Reads until `buf` is full or the input ends; returns the bytes read.
fn read_full(input: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match input.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

impl<R: Read> RowReader for FvecsReader<R> {
    fn dim(&self) -> Option<usize> {
        (self.dim > 0).then_some(self.dim)
    }

    fn read_batch(&mut self, max_rows: usize, batch: &mut RowBatch) -> Result<usize> {
        batch.clear();
        batch.dim = self.dim;
        if self.dim == 0 {
            return Ok(0);
        }
        while batch.rows.len() < max_rows && self.read_row(batch)? {}
        Ok(batch.rows.len())
    }

    fn fraction_done(&self) -> Option<f64> {
        match self.total_rows? {
            0 => Some(1.0),
            total => Some(self.next_row as f64 / total as f64),
        }
    }
}

/// Writes an fvecs file.
pub struct FvecsWriter<W: Write> {
    out: W,
    dim: usize,
    field: [u8; 4],
    rows: u64,
    bytes: Vec<u8>,
}

impl<W: Write> FvecsWriter<W> {
    /// A writer of rows of `dim` values into `out`.
    pub fn new(out: W, dim: usize) -> Result<Self> {
        let field = i32::try_from(dim)
            .ok()
            .filter(|&d| d > 0)
            .ok_or_else(|| anyhow!("dimension {dim} does not fit an fvecs row"))?
            .to_le_bytes();
        Ok(FvecsWriter {
            out,
            dim,
            field,
            rows: 0,
            bytes: Vec::new(),
        })
    }
}

impl<W: Write> RowWriter for FvecsWriter<W> {
    fn write_row(&mut self, _: &str, _: &str, vector: &[f32], _: &Attributes) -> Result<()> {
        if vector.len() != self.dim {
            bail!(
                "fvecs row of {} values, expected {}",
                vector.len(),
                self.dim
            );
        }
        self.bytes.clear();
        self.bytes.extend_from_slice(&self.field);
        for v in vector {
            self.bytes.extend_from_slice(&v.to_le_bytes());
        }
        self.out
            .write_all(&self.bytes)
            .context("cannot write the fvecs output")?;
        self.rows += 1;
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<u64> {
        flush(&mut self.out, "the fvecs output")?;
        Ok(self.rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fvecs(rows: &[&[f32]]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut w = Box::new(FvecsWriter::new(&mut out, rows[0].len()).unwrap());
        for r in rows {
            w.write_row("", "", r, &Attributes::new()).unwrap();
        }
        assert_eq!(w.finish().unwrap(), rows.len() as u64);
        out
    }

    fn read_all(bytes: &[u8], known_len: bool) -> Result<RowBatch> {
        let len = known_len.then_some(bytes.len() as u64);
        let mut r = FvecsReader::new(bytes, "x.fvecs".into(), len)?;
        let mut all = RowBatch::default();
        let mut b = RowBatch::default();
        while r.read_batch(2, &mut b)? > 0 {
            all.dim = b.dim;
            all.vectors.extend_from_slice(&b.vectors);
            all.rows.append(&mut b.rows);
        }
        Ok(all)
    }

    #[test]
    fn round_trip() {
        let bytes = fvecs(&[&[1.0, 2.0, 3.0], &[-0.0, 1e-40, 5.0], &[7.0, 8.0, 9.0]]);
        assert_eq!(bytes.len(), 3 * 16);
        let b = read_all(&bytes, true).unwrap();
        assert_eq!(b.dim, 3);
        assert_eq!(b.rows.len(), 3);
        assert_eq!(b.rows[2].id.as_deref(), Some("2"));
        assert_eq!(b.vector(1)[1].to_bits(), 1e-40f32.to_bits());
        assert_eq!(b.vector(1)[0].to_bits(), (-0.0f32).to_bits());
        let empty = read_all(&[], true).unwrap();
        assert!(empty.rows.is_empty());
    }

    #[test]
    fn truncation_is_reported_with_the_row() {
        let bytes = fvecs(&[&[1.0, 2.0], &[3.0, 4.0]]);
        for cut in (1..bytes.len()).filter(|c| c % 12 != 0) {
            let part = &bytes[..cut];
            let known = format!("{:#}", read_all(part, true).unwrap_err());
            assert!(known.contains("truncated"), "{cut}: {known}");
            let streamed = format!("{:#}", read_all(part, false).unwrap_err());
            assert!(streamed.contains("truncated"), "{cut}: {streamed}");
            if cut > 12 {
                assert!(streamed.contains("row 1 (byte offset 12)"), "{streamed}");
            }
        }
    }

    #[test]
    fn inconsistent_or_absurd_dimension() {
        let mut bytes = fvecs(&[&[1.0, 2.0], &[3.0, 4.0]]);
        bytes[12] = 3;
        let e = format!("{:#}", read_all(&bytes, false).unwrap_err());
        assert!(
            e.contains("row 1 (byte offset 12) has dimension 3, row 0 has 2"),
            "{e}"
        );
        for raw in [0i32, -1, i32::MAX] {
            let mut bytes = raw.to_le_bytes().to_vec();
            bytes.extend_from_slice(&[0; 8]);
            let e = format!("{:#}", read_all(&bytes, true).unwrap_err());
            assert!(e.contains(&format!("dimension {raw}")), "{e}");
        }
    }

    #[test]
    fn nan_is_refused() {
        let bytes = fvecs(&[&[1.0], &[f32::INFINITY]]);
        let e = format!("{:#}", read_all(&bytes, true).unwrap_err());
        assert!(e.contains("row 1: component 0 is inf"), "{e}");
    }
}
