//! NumPy `.npy` files holding a 2-D, C-order, little-endian float32 array
//! (`np.save("x.npy", a.astype("<f4"))`). Row `i` gets the id `"i"`.
//!
//! The header is a Python dict literal; it is parsed strictly (exactly the
//! keys `descr`, `fortran_order` and `shape`) and the file's size is checked
//! against the shape before any row is returned, so a truncated file fails
//! before anything is imported.

use std::io::{Read, Seek, SeekFrom, Write};

use anyhow::{Context, Result, anyhow, bail};
use nidus_format::Attributes;

use super::{Location, Row, RowBatch, RowReader, RowWriter, check_finite, flush};

const MAGIC: &[u8; 6] = b"\x93NUMPY";
/// A header longer than this is not a real npy header.
const MAX_HEADER_BYTES: usize = 1 << 16;

/// The parsed header: rows and columns of the float32 matrix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NpyHeader {
    /// Number of rows (the first dimension of the shape).
    pub rows: u64,
    /// Number of columns, i.e. the vector dimension.
    pub dim: usize,
    /// Bytes before the data (magic, version, length, header text).
    pub data_offset: u64,
}

/// Reads and checks an npy header from the start of `input`.
pub fn read_header(input: &mut impl Read) -> Result<NpyHeader> {
    let mut prefix = [0u8; 8];
    input
        .read_exact(&mut prefix)
        .map_err(|_| anyhow!("not an npy file: shorter than its 8-byte preamble"))?;
    if &prefix[..6] != MAGIC {
        bail!("not an npy file: it does not start with \\x93NUMPY");
    }
    let (major, minor) = (prefix[6], prefix[7]);
    let (len, len_bytes) = match major {
        1 => {
            let mut b = [0u8; 2];
            input.read_exact(&mut b).context("truncated npy header")?;
            (usize::from(u16::from_le_bytes(b)), 2)
        }
        2 | 3 => {
            let mut b = [0u8; 4];
            input.read_exact(&mut b).context("truncated npy header")?;
            let len = u32::from_le_bytes(b);
            (usize::try_from(len).unwrap_or(usize::MAX), 4)
        }
        _ => bail!("npy format version {major}.{minor} is not supported (1.0, 2.0 and 3.0 are)"),
    };
    if len > MAX_HEADER_BYTES {
        bail!("npy header length {len} is implausible (more than {MAX_HEADER_BYTES} bytes)");
    }
    let mut text = vec![0u8; len];
    input
        .read_exact(&mut text)
        .map_err(|_| anyhow!("truncated npy header: expected {len} bytes of header text"))?;
    let text = std::str::from_utf8(&text).map_err(|_| anyhow!("npy header is not UTF-8"))?;
    let (rows, dim) = parse_dict(text)?;
    Ok(NpyHeader {
        rows,
        dim,
        data_offset: (8 + len_bytes + len) as u64,
    })
}

/// Parses the header dict, returning (rows, dim).
fn parse_dict(text: &str) -> Result<(u64, usize)> {
    let mut lexer = DictLexer { text, pos: 0 };
    let mut descr = None;
    let mut fortran = None;
    let mut shape: Option<Vec<u64>> = None;
    lexer.expect('{')?;
    loop {
        if lexer.eat('}') {
            break;
        }
        let key = lexer.quoted()?;
        lexer.expect(':')?;
        match key.as_str() {
            "descr" if descr.is_none() => descr = Some(lexer.quoted()?),
            "fortran_order" if fortran.is_none() => fortran = Some(lexer.boolean()?),
            "shape" if shape.is_none() => shape = Some(lexer.tuple()?),
            "descr" | "fortran_order" | "shape" => bail!("npy header repeats the key '{key}'"),
            _ => bail!("npy header has an unexpected key '{key}'"),
        }
        if !lexer.eat(',') {
            lexer.expect('}')?;
            break;
        }
    }
    if !lexer.text[lexer.pos..].trim().is_empty() {
        bail!("npy header has text after its dict");
    }
    let descr = descr.ok_or_else(|| anyhow!("npy header lacks 'descr'"))?;
    let fortran = fortran.ok_or_else(|| anyhow!("npy header lacks 'fortran_order'"))?;
    let shape = shape.ok_or_else(|| anyhow!("npy header lacks 'shape'"))?;
    if descr != "<f4" {
        bail!(
            "npy dtype '{descr}' is not supported: only little-endian float32 ('<f4'); \
             convert with a.astype('<f4')"
        );
    }
    if fortran {
        bail!("npy array is in Fortran order; save it in C order (np.ascontiguousarray)");
    }
    let [rows, dim] = shape[..] else {
        bail!(
            "npy array has {} dimensions {:?}; a matrix of shape (rows, dim) is needed",
            shape.len(),
            shape
        );
    };
    if dim == 0 {
        bail!("npy array has dimension 0");
    }
    let dim = usize::try_from(dim)
        .ok()
        .filter(|&d| d <= 1 << 24)
        .ok_or_else(|| anyhow!("npy dimension {dim} is implausible"))?;
    Ok((rows, dim))
}

/// A lexer for the tiny subset of Python literals an npy header uses.
struct DictLexer<'a> {
    text: &'a str,
    pos: usize,
}

impl DictLexer<'_> {
    fn skip_ws(&mut self) {
        let rest = &self.text[self.pos..];
        self.pos += rest.len() - rest.trim_start().len();
    }

    fn eat(&mut self, c: char) -> bool {
        self.skip_ws();
        if self.text[self.pos..].starts_with(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: char) -> Result<()> {
        if self.eat(c) {
            Ok(())
        } else {
            bail!(
                "malformed npy header: expected '{c}' at byte {} of {:?}",
                self.pos,
                self.text
            )
        }
    }

    fn quoted(&mut self) -> Result<String> {
        self.skip_ws();
        let rest = &self.text[self.pos..];
        let quote = rest
            .chars()
            .next()
            .filter(|&q| q == '\'' || q == '"')
            .ok_or_else(|| {
                anyhow!(
                    "malformed npy header: expected a quoted string in {:?}",
                    self.text
                )
            })?;
        let end = rest[1..]
            .find(quote)
            .ok_or_else(|| anyhow!("malformed npy header: unterminated string"))?;
        self.pos += end + 2;
        Ok(rest[1..1 + end].to_owned())
    }

    fn boolean(&mut self) -> Result<bool> {
        self.skip_ws();
        for (word, value) in [("True", true), ("False", false)] {
            if self.text[self.pos..].starts_with(word) {
                self.pos += word.len();
                return Ok(value);
            }
        }
        bail!("malformed npy header: 'fortran_order' must be True or False")
    }

    fn tuple(&mut self) -> Result<Vec<u64>> {
        self.expect('(')?;
        let mut items = Vec::new();
        loop {
            if self.eat(')') {
                return Ok(items);
            }
            self.skip_ws();
            let digits = self.text[self.pos..]
                .bytes()
                .take_while(u8::is_ascii_digit)
                .count();
            let n: u64 = self.text[self.pos..self.pos + digits]
                .parse()
                .map_err(|_| anyhow!("malformed npy header: bad number in 'shape'"))?;
            self.pos += digits;
            items.push(n);
            if items.len() > 32 {
                bail!("malformed npy header: 'shape' has too many dimensions");
            }
            if !self.eat(',') {
                self.expect(')')?;
                return Ok(items);
            }
        }
    }
}

/// Reads the rows of an npy file.
pub struct NpyReader<R> {
    input: R,
    name: String,
    header: NpyHeader,
    next_row: u64,
    bytes: Vec<u8>,
}

impl<R: Read> NpyReader<R> {
    /// Reads the header of `input`; with `file_len` known, also checks that
    /// the file holds exactly the rows the header promises.
    pub fn new(mut input: R, name: String, file_len: Option<u64>) -> Result<Self> {
        let header = read_header(&mut input).with_context(|| name.clone())?;
        let row_bytes = header.dim as u64 * 4;
        let data_bytes = header.rows.checked_mul(row_bytes).ok_or_else(|| {
            anyhow!(
                "{name}: npy shape ({}, {}) is implausible",
                header.rows,
                header.dim
            )
        })?;
        if let Some(len) = file_len {
            let have = len.saturating_sub(header.data_offset);
            if have < data_bytes {
                bail!(
                    "{name}: truncated npy file: the header promises {} rows of {} float32 \
                     ({data_bytes} bytes) but only {have} bytes follow the header (at most {} whole rows)",
                    header.rows,
                    header.dim,
                    have / row_bytes
                );
            }
            if have > data_bytes {
                bail!(
                    "{name}: npy file has {} bytes beyond the {} x {} float32 data its header describes",
                    have - data_bytes,
                    header.rows,
                    header.dim
                );
            }
        }
        Ok(NpyReader {
            input,
            name,
            header,
            next_row: 0,
            bytes: Vec::new(),
        })
    }

    /// The header.
    pub fn header(&self) -> NpyHeader {
        self.header
    }
}

impl<R: Read> RowReader for NpyReader<R> {
    fn dim(&self) -> Option<usize> {
        Some(self.header.dim)
    }

    fn read_batch(&mut self, max_rows: usize, batch: &mut RowBatch) -> Result<usize> {
        batch.clear();
        batch.dim = self.header.dim;
        let remaining = self.header.rows - self.next_row;
        let n = usize::try_from(remaining)
            .unwrap_or(usize::MAX)
            .min(max_rows);
        if n == 0 {
            return Ok(0);
        }
        let dim = self.header.dim;
        self.bytes.resize(n * dim * 4, 0);
        self.input.read_exact(&mut self.bytes).map_err(|e| {
            anyhow!(
                "{}: truncated npy file: rows {}..{} are missing ({e})",
                self.name,
                self.next_row,
                self.header.rows
            )
        })?;
        batch.vectors.extend(
            self.bytes
                .chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
        );
        for i in 0..n {
            let row = self.next_row + i as u64;
            check_finite(batch.vector(i)).map_err(|e| anyhow!("{}: row {row}: {e}", self.name))?;
            batch.rows.push(Row {
                id: Some(row.to_string()),
                collection: None,
                attrs: Attributes::new(),
                location: Location::Row(row),
            });
        }
        self.next_row += n as u64;
        Ok(n)
    }

    fn fraction_done(&self) -> Option<f64> {
        if self.header.rows == 0 {
            return Some(1.0);
        }
        Some(self.next_row as f64 / self.header.rows as f64)
    }
}

/// The fixed header size the writer uses: room for any two u64 dimensions,
/// so the header can be rewritten in place once the row count is known.
const WRITER_HEADER_BYTES: usize = 128;

fn header_bytes(rows: u64, dim: usize) -> Vec<u8> {
    let dict = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({rows}, {dim}), }}");
    let text_len = WRITER_HEADER_BYTES - 10;
    let mut out = Vec::with_capacity(WRITER_HEADER_BYTES);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&(text_len as u16).to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out.resize(WRITER_HEADER_BYTES - 1, b' ');
    out.push(b'\n');
    out
}

/// Writes an npy file; the row count is filled in by [`RowWriter::finish`].
pub struct NpyWriter<W: Write + Seek> {
    out: W,
    dim: usize,
    rows: u64,
    bytes: Vec<u8>,
}

impl<W: Write + Seek> NpyWriter<W> {
    /// Starts an npy file of `dim` columns in `out`.
    pub fn new(mut out: W, dim: usize) -> Result<Self> {
        out.write_all(&header_bytes(0, dim))
            .context("cannot write the npy header")?;
        Ok(NpyWriter {
            out,
            dim,
            rows: 0,
            bytes: Vec::new(),
        })
    }
}

impl<W: Write + Seek> RowWriter for NpyWriter<W> {
    fn write_row(&mut self, _: &str, _: &str, vector: &[f32], _: &Attributes) -> Result<()> {
        if vector.len() != self.dim {
            bail!("npy row of {} values, expected {}", vector.len(), self.dim);
        }
        self.bytes.clear();
        for v in vector {
            self.bytes.extend_from_slice(&v.to_le_bytes());
        }
        self.out
            .write_all(&self.bytes)
            .context("cannot write the npy output")?;
        self.rows += 1;
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<u64> {
        let header = header_bytes(self.rows, self.dim);
        self.out
            .seek(SeekFrom::Start(0))
            .and_then(|_| self.out.write_all(&header))
            .and_then(|()| self.out.seek(SeekFrom::End(0)).map(drop))
            .context("cannot rewrite the npy header")?;
        flush(&mut self.out, "the npy output")?;
        Ok(self.rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn npy(dict: &str, data: &[f32]) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&[1, 0]);
        let mut text = dict.as_bytes().to_vec();
        text.push(b'\n');
        out.extend_from_slice(&(text.len() as u16).to_le_bytes());
        out.extend_from_slice(&text);
        for v in data {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out
    }

    fn open(bytes: &[u8]) -> Result<NpyReader<&[u8]>> {
        NpyReader::new(bytes, "x.npy".into(), Some(bytes.len() as u64))
    }

    #[test]
    fn reads_what_numpy_writes() {
        let data: Vec<f32> = (0..12).map(|i| i as f32 * 0.5).collect();
        let bytes = npy(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (4, 3), }",
            &data,
        );
        let mut r = open(&bytes).unwrap();
        assert_eq!(r.dim(), Some(3));
        let mut b = RowBatch::default();
        assert_eq!(r.read_batch(3, &mut b).unwrap(), 3);
        assert_eq!(b.vectors, data[..9]);
        assert_eq!(b.rows[2].id.as_deref(), Some("2"));
        assert_eq!(r.read_batch(3, &mut b).unwrap(), 1);
        assert_eq!(b.rows[0].id.as_deref(), Some("3"));
        assert_eq!(b.vector(0), &data[9..]);
        assert_eq!(r.read_batch(3, &mut b).unwrap(), 0);
        assert_eq!(r.fraction_done(), Some(1.0));
        // Key order and quoting vary between writers.
        let bytes = npy(
            "{\"shape\": (1,2), \"fortran_order\": False, \"descr\": '<f4'}",
            &[1.0, 2.0],
        );
        assert_eq!(open(&bytes).unwrap().header().rows, 1);
    }

    #[test]
    fn header_refusals_are_specific() {
        let cases = [
            (
                "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 1), }",
                "'<f8' is not supported",
            ),
            (
                "{'descr': '>f4', 'fortran_order': False, 'shape': (1, 1), }",
                "'>f4' is not supported",
            ),
            (
                "{'descr': '<f4', 'fortran_order': True, 'shape': (1, 1), }",
                "Fortran order",
            ),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }",
                "1 dimensions",
            ),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 1), }",
                "3 dimensions",
            ),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 0), }",
                "dimension 0",
            ),
            ("{'descr': '<f4', 'fortran_order': False}", "lacks 'shape'"),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1), 'x': 1}",
                "unexpected key 'x'",
            ),
            ("{'descr': '<f4', 'descr': '<f4'}", "repeats"),
            ("{'descr': '<f4', 'fortran_order': Nope}", "True or False"),
            ("{'descr': '<f4' 'shape': (1, 1)}", "expected '}'"),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1)} extra",
                "after its dict",
            ),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (1, x)}",
                "bad number",
            ),
        ];
        for (dict, expected) in cases {
            let e = format!("{:#}", open(&npy(dict, &[1.0])).err().unwrap());
            assert!(e.contains(expected), "{dict}: {e}");
        }
        let e = format!("{:#}", open(b"PK\x03\x04zipzip").err().unwrap());
        assert!(e.contains("not an npy file"), "{e}");
        let mut v = npy(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1), }",
            &[1.0],
        );
        v[6] = 9;
        let e = format!("{:#}", open(&v).err().unwrap());
        assert!(e.contains("version 9.0"), "{e}");
        v[6] = 1;
        v[8] = 0xff;
        v[9] = 0xff;
        let e = format!("{:#}", open(&v).err().unwrap());
        assert!(e.contains("truncated npy header"), "{e}");
        v[6] = 2;
        v.splice(8..10, [0xff, 0xff, 0xff, 0x7f]);
        let e = format!("{:#}", open(&v).err().unwrap());
        assert!(e.contains("implausible"), "{e}");
    }

    #[test]
    fn truncation_and_excess_fail_before_any_row() {
        let bytes = npy(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }",
            &[1.0; 6],
        );
        for cut in [1, 4, 5, 24] {
            let e = format!("{:#}", open(&bytes[..bytes.len() - cut]).err().unwrap());
            assert!(
                e.contains("truncated npy file") && e.contains("x.npy"),
                "{e}"
            );
        }
        let mut longer = bytes.clone();
        longer.push(0);
        let e = format!("{:#}", open(&longer).err().unwrap());
        assert!(e.contains("1 bytes beyond"), "{e}");
        // Without a known length, truncation shows up while reading.
        let cut = &bytes[..bytes.len() - 4];
        let mut r = NpyReader::new(cut, "x.npy".into(), None).unwrap();
        let e = r.read_batch(10, &mut RowBatch::default()).unwrap_err();
        assert!(e.to_string().contains("rows 0..3 are missing"), "{e}");
        // A header cut short.
        for n in [3, 9, 20] {
            assert!(open(&bytes[..n]).is_err());
        }
    }

    #[test]
    fn nan_rows_are_named() {
        let bytes = npy(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }",
            &[1.0, 2.0, 3.0, f32::NAN],
        );
        let e = open(&bytes)
            .unwrap()
            .read_batch(10, &mut RowBatch::default())
            .unwrap_err();
        assert!(
            format!("{e:#}").contains("row 1: component 1 is NaN"),
            "{e:#}"
        );
    }

    #[test]
    fn writer_round_trip() {
        let mut cursor = Cursor::new(Vec::new());
        let mut w = Box::new(NpyWriter::new(&mut cursor, 2).unwrap());
        let none = Attributes::new();
        w.write_row("c", "a", &[1.5, -0.0], &none).unwrap();
        w.write_row("c", "b", &[f32::MIN_POSITIVE, 3.0], &none)
            .unwrap();
        assert!(w.write_row("c", "b", &[1.0], &none).is_err());
        assert_eq!(w.finish().unwrap(), 2);
        let bytes = cursor.into_inner();
        assert_eq!(bytes.len(), WRITER_HEADER_BYTES + 16);
        let mut r = open(&bytes).unwrap();
        let mut b = RowBatch::default();
        r.read_batch(10, &mut b).unwrap();
        let bits: Vec<u32> = b.vectors.iter().map(|v| v.to_bits()).collect();
        let want: Vec<u32> = [1.5f32, -0.0, f32::MIN_POSITIVE, 3.0]
            .iter()
            .map(|v| v.to_bits())
            .collect();
        assert_eq!(bits, want);
        // The header of the largest shape still fits.
        assert_eq!(header_bytes(u64::MAX, 1 << 24).len(), WRITER_HEADER_BYTES);
    }
}
