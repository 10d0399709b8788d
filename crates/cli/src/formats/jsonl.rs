//! JSONL: one object per line, `{"id": "...", "vector": [...], "attrs":
//! {...}}`, with `"collection"` optional, `"attrs"` optional and any other
//! key ignored (but still checked for syntax). Blank lines are skipped.
//!
//! Speed matters here (import runs at tens of MB/s): each line is parsed in
//! place, the vector straight into the batch's contiguous buffer, and the
//! line buffer is reused.

use std::io::{BufRead, Read, Write};

use anyhow::{Context, Result, anyhow, bail};
use nidus_format::Attributes;

use super::{Location, Row, RowBatch, RowReader, RowWriter, flush};
use crate::json::{self, JsonError, Parser};
use crate::values;

/// The longest line accepted: a guard against unbounded memory on a file
/// that is not line-oriented at all.
pub const MAX_LINE_BYTES: u64 = 64 << 20;

/// Reads rows from JSONL text.
pub struct JsonlReader<R> {
    input: R,
    name: String,
    line: Vec<u8>,
    line_no: u64,
    bytes_read: u64,
    total_bytes: Option<u64>,
    dim: Option<usize>,
    failed: bool,
}

impl<R: BufRead> JsonlReader<R> {
    /// A reader of `input`; `name` (the file name) prefixes every error;
    /// `total_bytes` (when known) drives [`RowReader::fraction_done`].
    pub fn new(input: R, name: String, total_bytes: Option<u64>) -> Self {
        JsonlReader {
            input,
            name,
            line: Vec::new(),
            line_no: 0,
            bytes_read: 0,
            total_bytes,
            dim: None,
            failed: false,
        }
    }

    /// Reads the next non-blank line into `self.line`; false at the end.
    fn next_line(&mut self) -> Result<bool> {
        loop {
            self.line.clear();
            let n = (&mut self.input)
                .take(MAX_LINE_BYTES + 1)
                .read_until(b'\n', &mut self.line)
                .with_context(|| format!("cannot read {}", self.name))?;
            if n == 0 {
                return Ok(false);
            }
            self.line_no += 1;
            self.bytes_read += n as u64;
            if n as u64 > MAX_LINE_BYTES {
                bail!(
                    "{}: line {} is longer than {} MiB",
                    self.name,
                    self.line_no,
                    MAX_LINE_BYTES >> 20
                );
            }
            if !self.line.iter().all(u8::is_ascii_whitespace) {
                return Ok(true);
            }
        }
    }

    fn line_error(&self, e: &JsonError) -> anyhow::Error {
        anyhow!(
            "{}: line {}, column {}: {}",
            self.name,
            self.line_no,
            e.column,
            e.message
        )
    }

    /// Parses `self.line` into `batch` (the vector appended to
    /// `batch.vectors`).
    fn parse_line(&self, batch: &mut RowBatch) -> Result<()> {
        let mut line = &self.line[..];
        while let [rest @ .., b'\n' | b'\r'] = line {
            line = rest;
        }
        let text = std::str::from_utf8(line).map_err(|e| {
            anyhow!(
                "{}: line {}: not valid UTF-8 (byte {} of the line)",
                self.name,
                self.line_no,
                e.valid_up_to() + 1
            )
        })?;
        let start = batch.vectors.len();
        let mut id = None;
        let mut collection = None;
        let mut attrs = None;
        let mut seen_vector = false;
        let mut p = Parser::new(text);
        let result = p
            .object(|key, p| {
                let duplicate = |p: &Parser<'_>| p.error(format!("duplicate key \"{key}\""));
                match key.as_ref() {
                    "id" => {
                        if id.is_some() {
                            return Err(duplicate(p));
                        }
                        id = Some(string_field(p, "id")?);
                    }
                    "collection" => {
                        if collection.is_some() {
                            return Err(duplicate(p));
                        }
                        collection = Some(string_field(p, "collection")?);
                    }
                    "vector" => {
                        if seen_vector {
                            return Err(duplicate(p));
                        }
                        seen_vector = true;
                        if p.peek() != Some(b'[') {
                            let at = p.offset();
                            let v = p.value()?;
                            return Err(p.error_at(
                                at,
                                format!(
                                    "\"vector\" must be an array of numbers, found {}",
                                    v.kind()
                                ),
                            ));
                        }
                        p.f32_array(&mut batch.vectors)?;
                    }
                    "attrs" => {
                        if attrs.is_some() {
                            return Err(duplicate(p));
                        }
                        attrs = Some(values::parse_attrs(p)?);
                    }
                    _ => p.skip_value()?,
                }
                Ok(())
            })
            .and_then(|()| p.finish());
        if let Err(e) = result {
            batch.vectors.truncate(start);
            return Err(self.line_error(&e));
        }
        let fail = |batch: &mut RowBatch, message: String| {
            batch.vectors.truncate(start);
            Err(anyhow!("{}: line {}: {message}", self.name, self.line_no))
        };
        if !seen_vector {
            return fail(batch, "no \"vector\" key".to_owned());
        }
        let got = batch.vectors.len() - start;
        match self.dim {
            _ if got == 0 => return fail(batch, "\"vector\" is empty".to_owned()),
            Some(dim) if dim != got => {
                return fail(
                    batch,
                    format!("\"vector\" has {got} values, the earlier lines have {dim}"),
                );
            }
            _ => {}
        }
        batch.rows.push(Row {
            id,
            collection,
            attrs: attrs.unwrap_or_default(),
            location: Location::Line(self.line_no),
        });
        Ok(())
    }
}

impl<R: BufRead> RowReader for JsonlReader<R> {
    fn dim(&self) -> Option<usize> {
        self.dim
    }

    fn read_batch(&mut self, max_rows: usize, batch: &mut RowBatch) -> Result<usize> {
        batch.clear();
        if self.failed {
            bail!("{}: reading after an error", self.name);
        }
        while batch.rows.len() < max_rows {
            let step = self.next_line().and_then(|more| {
                if more {
                    self.parse_line(batch).map(|()| true)
                } else {
                    Ok(false)
                }
            });
            match step {
                Ok(true) => {
                    if self.dim.is_none() {
                        self.dim = Some(batch.vectors.len());
                        batch.dim = batch.vectors.len();
                    }
                }
                Ok(false) => break,
                Err(e) => {
                    self.failed = true;
                    return Err(e);
                }
            }
        }
        batch.dim = self.dim.unwrap_or(0);
        Ok(batch.rows.len())
    }

    fn fraction_done(&self) -> Option<f64> {
        self.total_bytes
            .filter(|&t| t > 0)
            .map(|t| (self.bytes_read as f64 / t as f64).min(1.0))
    }
}

/// Writes rows as JSONL: `{"collection":..,"id":..,"vector":[..],"attrs":{..}}`.
pub struct JsonlWriter<W: Write> {
    out: W,
    line: String,
    rows: u64,
}

impl<W: Write> JsonlWriter<W> {
    /// A writer into `out`.
    pub fn new(out: W) -> Self {
        JsonlWriter {
            out,
            line: String::new(),
            rows: 0,
        }
    }
}

impl<W: Write> RowWriter for JsonlWriter<W> {
    fn write_row(
        &mut self,
        collection: &str,
        id: &str,
        vector: &[f32],
        attrs: &Attributes,
    ) -> Result<()> {
        let line = &mut self.line;
        line.clear();
        line.push_str("{\"collection\":");
        json::write_str(line, collection);
        line.push_str(",\"id\":");
        json::write_str(line, id);
        line.push_str(",\"vector\":[");
        for (i, v) in vector.iter().enumerate() {
            if i > 0 {
                line.push(',');
            }
            json::write_f32(line, *v);
        }
        line.push_str("],\"attrs\":");
        values::write_attrs(line, attrs);
        line.push_str("}\n");
        self.out
            .write_all(line.as_bytes())
            .context("cannot write the JSONL output")?;
        self.rows += 1;
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<u64> {
        flush(&mut self.out, "the JSONL output")?;
        Ok(self.rows)
    }
}

/// Parses the value of `key`, which must be a JSON string; anything else is
/// an error at the value's position that names the key and what was found.
fn string_field(p: &mut Parser<'_>, key: &str) -> Result<String, JsonError> {
    if p.peek() != Some(b'"') {
        let at = p.offset();
        let found = p.value()?;
        return Err(p.error_at(
            at,
            format!("\"{key}\" must be a string, found {}", found.kind()),
        ));
    }
    Ok(p.string()?.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use nidus_format::Value;

    fn read_all(text: &str, batch_rows: usize) -> Result<Vec<RowBatch>> {
        let mut r = JsonlReader::new(text.as_bytes(), "in.jsonl".into(), Some(text.len() as u64));
        let mut out = Vec::new();
        loop {
            let mut b = RowBatch::default();
            if r.read_batch(batch_rows, &mut b)? == 0 {
                assert_eq!(r.fraction_done(), Some(1.0));
                return Ok(out);
            }
            out.push(b);
        }
    }

    #[test]
    fn reads_rows_in_batches() {
        let text = "{\"id\": \"a\", \"vector\": [1, 2.5], \"attrs\": {\"k\": \"v\"}}\n\
                    \n  \r\n\
                    {\"vector\": [3, 4], \"extra\": {\"deep\": [1, {}]}, \"id\": \"b\", \"collection\": \"c\"}\r\n\
                    {\"id\": \"c\", \"vector\": [-0, 1e-3]}";
        let batches = read_all(text, 2).unwrap();
        assert_eq!(batches.len(), 2);
        let b = &batches[0];
        assert_eq!(b.dim, 2);
        assert_eq!(b.vectors, [1.0, 2.5, 3.0, 4.0]);
        assert_eq!(b.rows[0].id.as_deref(), Some("a"));
        assert_eq!(b.rows[0].attrs["k"], Value::Str("v".into()));
        assert_eq!(b.rows[1].collection.as_deref(), Some("c"));
        assert_eq!(b.rows[1].location.to_string(), "line 4");
        assert!(b.rows[1].attrs.is_empty());
        assert_eq!(batches[1].vector(0), [-0.0, 1e-3]);
        assert_eq!(batches[1].rows[0].location, Location::Line(5));
    }

    fn first_error(text: &str) -> String {
        read_all(text, 100).unwrap_err().to_string()
    }

    #[test]
    fn bad_lines_are_named() {
        let good = "{\"id\": \"a\", \"vector\": [1, 2]}\n";
        let cases = [
            (
                "{\"id\": \"b\", \"vector\": [1, 2, 3]}",
                "line 2: \"vector\" has 3 values, the earlier lines have 2",
            ),
            (
                "{\"id\": \"b\", \"vector\": [1, NaN]}",
                "line 2, column 27: NaN is not a JSON number",
            ),
            (
                "{\"id\": \"b\", \"vector\": [1, 1e39]}",
                "line 2, column 27: 1e39 is out of range",
            ),
            ("{\"id\": \"b\"}", "line 2: no \"vector\" key"),
            (
                "{\"id\": \"b\", \"vector\": []}",
                "line 2: \"vector\" is empty",
            ),
            (
                "{\"id\": 7, \"vector\": [1, 2]}",
                "line 2, column 8: \"id\" must be a string, found a number",
            ),
            (
                "{\"id\": \"b\", \"vector\": \"x\"}",
                "\"vector\" must be an array",
            ),
            (
                "{\"id\": \"b\", \"id\": \"c\", \"vector\": [1, 2]}",
                "duplicate key \"id\"",
            ),
            (
                "{\"id\": \"b\", \"vector\": [1, 2]} x",
                "line 2, column 31: unexpected text",
            ),
            (
                "{\"id\": \"b\", \"vector\": [1, 2]",
                "line 2, column 29: expected ',' or '}'",
            ),
            ("[1, 2]", "line 2, column 1: expected '{'"),
            (
                "{\"id\": \"b\", \"vector\": [1, 2], \"attrs\": {\"x\": {}}}",
                "attribute \"x\"",
            ),
        ];
        for (line, expected) in cases {
            let e = first_error(&format!("{good}{line}\n{good}"));
            assert!(
                e.contains("in.jsonl: ") && e.contains(expected),
                "{line}: {e}"
            );
        }
        let mut bytes = good.as_bytes().to_vec();
        bytes.extend_from_slice(b"{\"id\": \"\xff\"}\n");
        let mut r = JsonlReader::new(&bytes[..], "in.jsonl".into(), None);
        let e = r.read_batch(10, &mut RowBatch::default()).unwrap_err();
        assert!(e.to_string().contains("line 2: not valid UTF-8"), "{e}");
        // An error poisons the reader instead of skipping the bad line.
        assert!(r.read_batch(10, &mut RowBatch::default()).is_err());
    }

    #[test]
    fn missing_id_is_none_for_the_caller_to_judge() {
        let b = &read_all("{\"vector\": [1]}\n", 10).unwrap()[0];
        assert_eq!(b.rows[0].id, None);
    }

    #[test]
    fn writer_output_reads_back_bit_exactly() {
        let mut attrs = Attributes::new();
        attrs.insert("f".into(), Value::Float(0.5));
        attrs.insert("i".into(), Value::Int(3));
        attrs.insert("l".into(), Value::List(vec!["x\ny".into()]));
        let vectors = [[0.1f32, -1e-20], [f32::MIN_POSITIVE, 1.0 / 3.0]];
        let mut out = Vec::new();
        let mut w = Box::new(JsonlWriter::new(&mut out));
        w.write_row("c\"1", "id\u{1}", &vectors[0], &attrs).unwrap();
        w.write_row("c2", "b", &vectors[1], &Attributes::new())
            .unwrap();
        assert_eq!(w.finish().unwrap(), 2);
        let text = String::from_utf8(out).unwrap();
        let b = &read_all(&text, 10).unwrap()[0];
        assert_eq!(b.rows[0].collection.as_deref(), Some("c\"1"));
        assert_eq!(b.rows[0].id.as_deref(), Some("id\u{1}"));
        assert_eq!(b.rows[0].attrs, attrs);
        for (i, v) in vectors.iter().enumerate() {
            let got: Vec<u32> = b.vector(i).iter().map(|x| x.to_bits()).collect();
            let want: Vec<u32> = v.iter().map(|x| x.to_bits()).collect();
            assert_eq!(got, want);
        }
    }

    #[test]
    fn overlong_line_is_refused_without_reading_it_all() {
        let mut r = JsonlReader::new(
            std::io::BufReader::new(std::io::repeat(b'x')),
            "inf".into(),
            None,
        );
        let e = r.read_batch(1, &mut RowBatch::default()).unwrap_err();
        assert!(e.to_string().contains("longer than 64 MiB"), "{e}");
    }
}
