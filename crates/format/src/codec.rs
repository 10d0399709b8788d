//! The batch payload (SPEC.md §5): encode a [`Batch`] to bytes and back.
//!
//! Every count read from the payload is checked against the bytes left in
//! the payload (times the smallest encoding of one item) before anything is
//! reserved, so a crafted payload cannot make the decoder allocate more than
//! a small constant times its own length.

use crate::batch::{Batch, Op};
use crate::error::{Error, ErrorKind};
use crate::header::{Header, Version};
use crate::value::{Attributes, Value};

// Op tags (SPEC.md §5.2). 0 is never valid, so zeroed bytes never parse.
const OP_CREATE_COLLECTION: u8 = 1;
const OP_DROP_COLLECTION: u8 = 2;
const OP_SET_METADATA: u8 = 3;
const OP_UPSERT: u8 = 4;
const OP_DELETE: u8 = 5;

// Value tags (SPEC.md §5.3).
const VAL_NULL: u8 = 1;
const VAL_FALSE: u8 = 2;
const VAL_TRUE: u8 = 3;
const VAL_INT: u8 = 4;
const VAL_FLOAT: u8 = 5;
const VAL_STR: u8 = 6;
const VAL_LIST: u8 = 7;

// SetMetadata's value presence byte.
const ABSENT: u8 = 0;
const PRESENT: u8 = 1;

/// Smallest encodings, used to bound counts before reserving memory.
const MIN_OP_LEN: usize = 1 + 4; // tag + one empty string
const MIN_ATTR_LEN: usize = 4 + 1; // empty name + a one-byte value
const MIN_STR_LEN: usize = 4;

/// Appends the payload of `batch` (SPEC.md §5) to `out`, padded with zero
/// bytes to a multiple of 4. On error `out` may hold a partial payload;
/// the caller truncates.
pub(crate) fn encode_payload(
    batch: &Batch,
    header: &Header,
    out: &mut Vec<u8>,
) -> Result<(), Error> {
    let rows = batch.upsert_count();
    let dim = header.dimension as usize;
    let expected = rows
        .checked_mul(dim)
        .ok_or_else(|| Error::invalid_input("too many rows"))?;
    if batch.vectors.len() != expected {
        return Err(Error::invalid_input(format!(
            "the batch has {rows} upserts of dimension {dim}, so {expected} vector values, \
             but holds {}",
            batch.vectors.len()
        )));
    }
    put_u32(out, count(batch.ops.len(), "operations")?);
    put_u32(out, count(rows, "vector rows")?);

    // The vector block: written in place, element by element in little-endian
    // order; on a little-endian host this loop is a straight copy.
    let start = out.len();
    out.resize(start + expected * 4, 0);
    let (cells, _) = out[start..].as_chunks_mut::<4>();
    for (cell, v) in cells.iter_mut().zip(&batch.vectors) {
        *cell = v.to_le_bytes();
    }

    for op in &batch.ops {
        match op {
            Op::CreateCollection { name } => {
                out.push(OP_CREATE_COLLECTION);
                put_str(out, name)?;
            }
            Op::DropCollection { name } => {
                out.push(OP_DROP_COLLECTION);
                put_str(out, name)?;
            }
            Op::SetMetadata {
                collection,
                key,
                value,
            } => {
                out.push(OP_SET_METADATA);
                put_str(out, collection)?;
                put_str(out, key)?;
                match value {
                    None => out.push(ABSENT),
                    Some(v) => {
                        out.push(PRESENT);
                        put_str(out, v)?;
                    }
                }
            }
            Op::Upsert {
                collection,
                id,
                attrs,
            } => {
                out.push(OP_UPSERT);
                put_str(out, collection)?;
                put_str(out, id)?;
                put_u32(out, count(attrs.len(), "attributes")?);
                // BTreeMap iterates in name order: deterministic bytes.
                for (name, value) in attrs {
                    put_str(out, name)?;
                    put_value(out, value)?;
                }
            }
            Op::Delete { collection, id } => {
                out.push(OP_DELETE);
                put_str(out, collection)?;
                put_str(out, id)?;
            }
        }
    }
    let pad = (4 - out.len() % 4) % 4;
    out.resize(out.len() + pad, 0);
    Ok(())
}

fn count(n: usize, what: &str) -> Result<u32, Error> {
    u32::try_from(n).map_err(|_| {
        Error::invalid_input(format!("{n} {what} exceed the format's limit of 2^32-1"))
    })
}

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_str(out: &mut Vec<u8>, s: &str) -> Result<(), Error> {
    put_u32(out, count(s.len(), "string bytes")?);
    out.extend_from_slice(s.as_bytes());
    Ok(())
}

fn put_value(out: &mut Vec<u8>, value: &Value) -> Result<(), Error> {
    match value {
        Value::Null => out.push(VAL_NULL),
        Value::Bool(false) => out.push(VAL_FALSE),
        Value::Bool(true) => out.push(VAL_TRUE),
        Value::Int(i) => {
            out.push(VAL_INT);
            out.extend_from_slice(&i.to_le_bytes());
        }
        Value::Float(f) => {
            out.push(VAL_FLOAT);
            out.extend_from_slice(&f.to_bits().to_le_bytes());
        }
        Value::Str(s) => {
            out.push(VAL_STR);
            put_str(out, s)?;
        }
        Value::List(items) => {
            out.push(VAL_LIST);
            put_u32(out, count(items.len(), "list items")?);
            for s in items {
                put_str(out, s)?;
            }
        }
    }
    Ok(())
}

/// Decodes a checksummed payload into `batch` (its ops and vectors are
/// replaced; their capacity is reused). `at` is the payload's byte offset in
/// the file, for messages; errors are reported at `frame_at`, the start of
/// the frame (the end of the valid prefix).
pub(crate) fn decode_payload(
    payload: &[u8],
    header: &Header,
    at: u64,
    frame_at: u64,
    batch: &mut Batch,
) -> Result<(), Error> {
    batch.ops.clear();
    batch.vectors.clear();
    let mut c = Cursor {
        buf: payload,
        pos: 0,
        at,
        frame_at,
        version: header.version,
    };
    let op_count = c.u32("operation count")? as usize;
    let rows = c.u32("row count")? as usize;
    let row_bytes = header.row_bytes();
    // u64 arithmetic: rows * row_bytes cannot overflow (2^32 * 2^18).
    let block_len = rows as u64 * row_bytes as u64;
    if block_len > c.left() as u64 {
        return Err(c.bad(format!(
            "{rows} vector rows of {row_bytes} bytes do not fit in the {} payload bytes left",
            c.left()
        )));
    }
    let block = c.take(block_len as usize, "vector block")?;
    let (cells, _) = block.as_chunks::<4>();
    batch.vectors.reserve(cells.len());
    batch
        .vectors
        .extend(cells.iter().map(|b| f32::from_le_bytes(*b)));

    if op_count > c.left() / MIN_OP_LEN {
        return Err(c.bad(format!(
            "{op_count} operations cannot fit in the {} payload bytes left",
            c.left()
        )));
    }
    batch.ops.reserve(op_count);
    let mut upserts = 0usize;
    for _ in 0..op_count {
        let tag_at = c.pos;
        let op = match c.u8("operation tag")? {
            OP_CREATE_COLLECTION => Op::CreateCollection {
                name: c.string("collection name")?,
            },
            OP_DROP_COLLECTION => Op::DropCollection {
                name: c.string("collection name")?,
            },
            OP_SET_METADATA => {
                let collection = c.string("collection name")?;
                let key = c.string("metadata key")?;
                let value = match c.u8("metadata presence")? {
                    ABSENT => None,
                    PRESENT => Some(c.string("metadata value")?),
                    other => {
                        return Err(
                            c.bad(format!("metadata presence byte {other} is neither 0 nor 1"))
                        );
                    }
                };
                Op::SetMetadata {
                    collection,
                    key,
                    value,
                }
            }
            OP_UPSERT => {
                upserts += 1;
                let collection = c.string("collection name")?;
                let id = c.string("record id")?;
                let attrs = c.attributes()?;
                Op::Upsert {
                    collection,
                    id,
                    attrs,
                }
            }
            OP_DELETE => Op::Delete {
                collection: c.string("collection name")?,
                id: c.string("record id")?,
            },
            other => return Err(c.unknown_tag("operation", other, tag_at)),
        };
        batch.ops.push(op);
    }
    if upserts != rows {
        return Err(c.bad(format!(
            "the payload declares {rows} vector rows but holds {upserts} upserts"
        )));
    }
    let rest = &c.buf[c.pos..];
    if rest.len() >= 4 || rest.iter().any(|&b| b != 0) {
        return Err(c.bad(format!(
            "{} bytes after the last operation are not 0-3 zero padding bytes",
            rest.len()
        )));
    }
    Ok(())
}

/// A bounds-checked reader over one payload.
struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    /// File offset of `buf[0]`, for messages.
    at: u64,
    /// File offset of the frame, where errors are reported.
    frame_at: u64,
    version: Version,
}

impl<'a> Cursor<'a> {
    fn left(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn bad(&self, what: String) -> Error {
        Error::corrupt(
            self.frame_at,
            format!(
                "malformed batch payload at byte {}: {what}",
                self.at + self.pos as u64
            ),
        )
    }

    /// An unknown tag is corruption in a file of our own minor version, but
    /// a feature we do not know in a file of a newer minor (SPEC.md §8).
    fn unknown_tag(&self, what: &str, tag: u8, tag_pos: usize) -> Error {
        if self.version > Version::CURRENT {
            Error::new(
                ErrorKind::UnsupportedVersion {
                    file: self.version,
                    supported: Version::CURRENT,
                },
                Some(self.frame_at),
            )
        } else {
            Error::corrupt(
                self.frame_at,
                format!(
                    "malformed batch payload at byte {}: unknown {what} tag {tag}",
                    self.at + tag_pos as u64
                ),
            )
        }
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], Error> {
        if n > self.left() {
            return Err(self.bad(format!(
                "{what} needs {n} bytes but only {} are left",
                self.left()
            )));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], Error> {
        let s = self.take(N, what)?;
        let mut out = [0u8; N];
        out.copy_from_slice(s);
        Ok(out)
    }

    fn u8(&mut self, what: &str) -> Result<u8, Error> {
        Ok(self.array::<1>(what)?[0])
    }

    fn u32(&mut self, what: &str) -> Result<u32, Error> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    fn u64(&mut self, what: &str) -> Result<u64, Error> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    fn string(&mut self, what: &str) -> Result<String, Error> {
        let len = self.u32(what)? as usize;
        let start = self.pos;
        let bytes = self.take(len, what)?;
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok(s.to_owned()),
            Err(e) => {
                self.pos = start + e.valid_up_to();
                Err(self.bad(format!("{what} is not valid UTF-8")))
            }
        }
    }

    fn attributes(&mut self) -> Result<Attributes, Error> {
        let n = self.u32("attribute count")? as usize;
        if n > self.left() / MIN_ATTR_LEN {
            return Err(self.bad(format!(
                "{n} attributes cannot fit in the {} payload bytes left",
                self.left()
            )));
        }
        let mut attrs = Attributes::new();
        for _ in 0..n {
            let name_at = self.pos;
            let name = self.string("attribute name")?;
            // Canonical form: names strictly ascending, so one set of
            // attributes has exactly one encoding and no duplicate is lost.
            if attrs
                .last_key_value()
                .is_some_and(|(prev, _)| prev.as_str() >= name.as_str())
            {
                self.pos = name_at;
                return Err(self.bad(format!(
                    "attribute name {name:?} is not in strictly ascending order"
                )));
            }
            let value = self.value()?;
            attrs.insert(name, value);
        }
        Ok(attrs)
    }

    fn value(&mut self) -> Result<Value, Error> {
        let tag_at = self.pos;
        Ok(match self.u8("value tag")? {
            VAL_NULL => Value::Null,
            VAL_FALSE => Value::Bool(false),
            VAL_TRUE => Value::Bool(true),
            VAL_INT => Value::Int(i64::from_le_bytes(self.array("integer value")?)),
            VAL_FLOAT => Value::Float(f64::from_bits(self.u64("float value")?)),
            VAL_STR => Value::Str(self.string("string value")?),
            VAL_LIST => {
                let n = self.u32("list length")? as usize;
                if n > self.left() / MIN_STR_LEN {
                    return Err(self.bad(format!(
                        "{n} list items cannot fit in the {} payload bytes left",
                        self.left()
                    )));
                }
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(self.string("list item")?);
                }
                Value::List(items)
            }
            other => return Err(self.unknown_tag("value", other, tag_at)),
        })
    }
}
