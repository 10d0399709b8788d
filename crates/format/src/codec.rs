//! The batch payload (SPEC.md §5): encode a [`Batch`] to bytes and back.
//!
//! Every count read from the payload is checked against the bytes left in
//! the payload (times the smallest encoding of one item) before anything is
//! reserved, so a crafted payload cannot make the decoder allocate more than
//! a small constant times its own length.

use crate::batch::{Batch, Op};
use crate::error::{FormatError, FormatErrorKind};
use crate::header::{Header, Version};
use crate::value::Value;
use crate::view::{AttrsRef, BatchRef, ListRef, OpRef, ValueRef};

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
pub(crate) const MIN_OP_LEN: usize = 1 + 4; // tag + one empty string
const MIN_ATTR_LEN: usize = 4 + 1; // empty name + a one-byte value
const MIN_STR_LEN: usize = 4;

/// Appends the payload of `batch` (SPEC.md §5) to `out`, padded with zero
/// bytes to a multiple of 4. On error `out` may hold a partial payload;
/// the caller truncates.
pub(crate) fn encode_payload(
    batch: &Batch,
    header: &Header,
    out: &mut Vec<u8>,
) -> Result<(), FormatError> {
    let rows = batch.upsert_count();
    let dim = header.dimension as usize;
    let expected = rows
        .checked_mul(dim)
        .ok_or_else(|| FormatError::invalid_input("too many rows"))?;
    if batch.vectors.len() != expected {
        return Err(FormatError::invalid_input(format!(
            "the batch has {rows} upserts of dimension {dim}, so {expected} vector values, \
             but holds {}",
            batch.vectors.len()
        )));
    }
    let payload_start = out.len();
    put_u32(out, count(batch.ops.len(), "operations")?);
    put_u32(out, count(rows, "vector rows")?);

    put_vectors(out, &batch.vectors);

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
            } => put_upsert(out, collection, id, attrs)?,
            Op::Delete { collection, id } => {
                out.push(OP_DELETE);
                put_str(out, collection)?;
                put_str(out, id)?;
            }
        }
    }
    pad_payload(out, payload_start);
    Ok(())
}

/// The exact length of the payload [`encode_payload`] writes for `batch`
/// (padding included), computed without encoding: lets the encoder refuse
/// an oversized batch before allocating, and reserve exactly once.
pub(crate) fn payload_len(batch: &Batch, header: &Header) -> u64 {
    let rows = batch.upsert_count() as u64;
    let mut len = 8 + rows * header.row_bytes() as u64;
    for op in &batch.ops {
        len += match op {
            Op::CreateCollection { name } | Op::DropCollection { name } => 1 + str_len(name),
            Op::SetMetadata {
                collection,
                key,
                value,
            } => 1 + str_len(collection) + str_len(key) + 1 + value.as_deref().map_or(0, str_len),
            Op::Upsert {
                collection,
                id,
                attrs,
            } => upsert_op_len(collection, id, attrs),
            Op::Delete { collection, id } => 1 + str_len(collection) + str_len(id),
        };
    }
    len.next_multiple_of(4)
}

/// The encoded length of a string: u32 length, then the bytes (SPEC.md §1.2).
fn str_len(x: &str) -> u64 {
    4 + x.len() as u64
}

/// The encoded length of one tagged attribute value (SPEC.md §5.3).
fn value_len(v: &Value) -> u64 {
    1 + match v {
        Value::Null | Value::Bool(_) => 0,
        Value::Int(_) | Value::Float(_) => 8,
        Value::Str(x) => str_len(x),
        Value::List(items) => 4 + items.iter().map(|x| str_len(x)).sum::<u64>(),
    }
}

/// The length of one `Upsert` op of `collection`, tag included (SPEC.md §5.2).
fn upsert_op_len(collection: &str, id: &str, attrs: &crate::value::Attributes) -> u64 {
    1 + str_len(collection)
        + str_len(id)
        + 4
        + attrs
            .iter()
            .map(|(n, v)| str_len(n) + value_len(v))
            .sum::<u64>()
}

/// The payload length (padding included) of a batch of upserts into
/// `collection`, one per item of `upserts`, without encoding it.
pub(crate) fn upserts_payload_len<'a>(
    header: &Header,
    collection: &str,
    upserts: impl Iterator<Item = (&'a str, &'a crate::value::Attributes)>,
) -> (usize, u64) {
    let (rows, ops) = upsert_ops_len(collection, upserts);
    let len = 8 + rows as u64 * header.row_bytes() as u64 + ops;
    (rows, len.next_multiple_of(4))
}

/// The number of `upserts` and the bytes of their `Upsert` ops into
/// `collection` (no counts, vectors or padding).
pub(crate) fn upsert_ops_len<'a>(
    collection: &str,
    upserts: impl Iterator<Item = (&'a str, &'a crate::value::Attributes)>,
) -> (usize, u64) {
    upserts.fold((0, 0), |(rows, len), (id, attrs)| {
        (rows + 1, len + upsert_op_len(collection, id, attrs))
    })
}

/// Appends the payload of a batch of upserts into `collection` (the bytes
/// [`encode_payload`] writes for the equivalent [`Batch`]): counts, the
/// vector block, then one `Upsert` op per item of `upserts`, and the pad.
/// The caller has checked that `vectors` holds `rows` rows. Errors as for
/// [`encode_payload`].
pub(crate) fn encode_upserts_payload<'a>(
    collection: &str,
    rows: usize,
    vectors: &[f32],
    upserts: impl Iterator<Item = (&'a str, &'a crate::value::Attributes)>,
    out: &mut Vec<u8>,
) -> Result<(), FormatError> {
    let payload_start = out.len();
    put_upsert_counts(rows, out)?;
    put_vectors(out, vectors);
    encode_upsert_ops(collection, upserts, out)?;
    pad_payload(out, payload_start);
    Ok(())
}

/// Appends one `Upsert` op into `collection` per item of `upserts` (the
/// part of an upserts payload after its vector block, before the padding).
pub(crate) fn encode_upsert_ops<'a>(
    collection: &str,
    upserts: impl Iterator<Item = (&'a str, &'a crate::value::Attributes)>,
    out: &mut Vec<u8>,
) -> Result<(), FormatError> {
    for (id, attrs) in upserts {
        put_upsert(out, collection, id, attrs)?;
    }
    Ok(())
}

/// Appends the payload's leading counts for a batch of `rows` upserts (one
/// op per row).
pub(crate) fn put_upsert_counts(rows: usize, out: &mut Vec<u8>) -> Result<(), FormatError> {
    let rows = count(rows, "vector rows")?;
    put_u32(out, rows);
    put_u32(out, rows);
    Ok(())
}

/// Appends the vector block: every value in little-endian order, through a
/// small buffer that stays in L1 (one pass over the output, no zero fill
/// first); on a little-endian host the inner loop is a plain copy.
fn put_vectors(out: &mut Vec<u8>, vectors: &[f32]) {
    let mut le = [0u8; 4096];
    for chunk in vectors.chunks(le.len() / 4) {
        let (cells, _) = le.as_chunks_mut::<4>();
        for (cell, v) in cells.iter_mut().zip(chunk) {
            *cell = v.to_le_bytes();
        }
        out.extend_from_slice(&le[..chunk.len() * 4]);
    }
}

/// Appends one `Upsert` op (SPEC.md §5.2).
fn put_upsert(
    out: &mut Vec<u8>,
    collection: &str,
    id: &str,
    attrs: &crate::value::Attributes,
) -> Result<(), FormatError> {
    out.push(OP_UPSERT);
    put_str(out, collection)?;
    put_str(out, id)?;
    put_u32(out, count(attrs.len(), "attributes")?);
    // BTreeMap iterates in name order: deterministic bytes.
    for (name, value) in attrs {
        put_str(out, name)?;
        put_value(out, value)?;
    }
    Ok(())
}

/// Pads the payload that began at `payload_start` to a multiple of 4 bytes
/// (relative to the payload, wherever `out` started).
fn pad_payload(out: &mut Vec<u8>, payload_start: usize) {
    let pad = (4 - (out.len() - payload_start) % 4) % 4;
    out.resize(out.len() + pad, 0);
}

fn count(n: usize, what: &str) -> Result<u32, FormatError> {
    u32::try_from(n).map_err(|_| {
        FormatError::invalid_input(format!("{n} {what} exceed the format's limit of 2^32-1"))
    })
}

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn put_str(out: &mut Vec<u8>, s: &str) -> Result<(), FormatError> {
    put_u32(out, count(s.len(), "string bytes")?);
    out.extend_from_slice(s.as_bytes());
    Ok(())
}

fn put_value(out: &mut Vec<u8>, value: &Value) -> Result<(), FormatError> {
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
/// the frame (the end of the valid prefix). On error `batch` holds a
/// partial decode.
pub(crate) fn decode_payload(
    payload: &[u8],
    header: &Header,
    at: u64,
    frame_at: u64,
    batch: &mut Batch,
) -> Result<(), FormatError> {
    batch.ops.clear();
    batch.vectors.clear();
    let view = parse_payload(payload, header, at, frame_at, &mut batch.ops)?;
    view.append_vectors_to(&mut batch.vectors);
    Ok(())
}

/// Receives the ops of a payload as [`parse_payload`] validates them.
pub(crate) trait OpVisitor<'a> {
    /// Called once, when the op count is known to fit in the payload.
    fn reserve(&mut self, _op_count: usize) {}
    /// Called for every op, in order.
    fn op(&mut self, op: OpRef<'a>);
}

/// Validation alone.
impl<'a> OpVisitor<'a> for () {
    fn op(&mut self, _: OpRef<'a>) {}
}

/// Owned decoding.
impl<'a> OpVisitor<'a> for Vec<Op> {
    fn reserve(&mut self, op_count: usize) {
        self.reserve(op_count);
    }

    fn op(&mut self, op: OpRef<'a>) {
        self.push(op.to_op());
    }
}

/// Validates a checksummed payload completely and returns the borrowed
/// view of it, handing every op to `visitor` on the way (validation alone
/// allocates nothing). Errors as for [`decode_payload`].
pub(crate) fn parse_payload<'a>(
    payload: &'a [u8],
    header: &Header,
    at: u64,
    frame_at: u64,
    visitor: &mut impl OpVisitor<'a>,
) -> Result<BatchRef<'a>, FormatError> {
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
    if op_count > c.left() / MIN_OP_LEN {
        return Err(c.bad(format!(
            "{op_count} operations cannot fit in the {} payload bytes left",
            c.left()
        )));
    }
    visitor.reserve(op_count);
    let ops_start = c.pos;
    let mut upserts = 0usize;
    for _ in 0..op_count {
        let op = c.op()?;
        if matches!(op, OpRef::Upsert { .. }) {
            upserts += 1;
        }
        visitor.op(op);
    }
    if upserts != rows {
        return Err(c.bad(format!(
            "the payload declares {rows} vector rows but holds {upserts} upserts"
        )));
    }
    let ops = &payload[ops_start..c.pos];
    let rest = &c.buf[c.pos..];
    if rest.len() >= 4 || rest.iter().any(|&b| b != 0) {
        return Err(c.bad(format!(
            "{} bytes after the last operation are not 0-3 zero padding bytes",
            rest.len()
        )));
    }
    Ok(BatchRef::new(op_count, rows, header, block, ops))
}

/// A bounds-checked reader over one payload (or, re-reading validated
/// bytes, over part of one).
pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    /// File offset of `buf[0]`, for messages.
    at: u64,
    /// File offset of the frame, where errors are reported.
    frame_at: u64,
    version: Version,
}

impl<'a> Cursor<'a> {
    /// A cursor over bytes that were validated already: errors cannot
    /// happen, so their context is left empty.
    pub(crate) fn validated(buf: &'a [u8]) -> Self {
        Cursor {
            buf,
            pos: 0,
            at: 0,
            frame_at: 0,
            version: Version::CURRENT,
        }
    }

    #[inline]
    fn left(&self) -> usize {
        self.buf.len() - self.pos
    }

    #[cold]
    #[inline(never)]
    fn bad(&self, what: String) -> FormatError {
        FormatError::corrupt(
            self.frame_at,
            format!(
                "malformed batch payload at byte {}: {what}",
                self.at + self.pos as u64
            ),
        )
    }

    /// An unknown tag is corruption in a file of our own minor version, but
    /// a feature we do not know in a file of a newer minor (SPEC.md §8).
    #[cold]
    #[inline(never)]
    fn unknown_tag(&self, what: &str, tag: u8, tag_pos: usize) -> FormatError {
        if self.version > Version::CURRENT {
            FormatError::new(
                FormatErrorKind::UnsupportedVersion {
                    file: self.version,
                    supported: Version::CURRENT,
                },
                Some(self.frame_at),
            )
        } else {
            FormatError::corrupt(
                self.frame_at,
                format!(
                    "malformed batch payload at byte {}: unknown {what} tag {tag}",
                    self.at + tag_pos as u64
                ),
            )
        }
    }

    #[inline]
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], FormatError> {
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

    #[inline]
    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], FormatError> {
        let s = self.take(N, what)?;
        let mut out = [0u8; N];
        out.copy_from_slice(s);
        Ok(out)
    }

    #[inline]
    fn u8(&mut self, what: &str) -> Result<u8, FormatError> {
        Ok(self.array::<1>(what)?[0])
    }

    #[inline]
    fn u32(&mut self, what: &str) -> Result<u32, FormatError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    #[inline]
    pub(crate) fn str(&mut self, what: &str) -> Result<&'a str, FormatError> {
        let len = self.u32(what)? as usize;
        let start = self.pos;
        let bytes = self.take(len, what)?;
        std::str::from_utf8(bytes).map_err(|e| {
            self.pos = start + e.valid_up_to();
            self.bad(format!("{what} is not valid UTF-8"))
        })
    }

    /// One operation (SPEC.md §5.2), fully validated.
    pub(crate) fn op(&mut self) -> Result<OpRef<'a>, FormatError> {
        let tag_at = self.pos;
        Ok(match self.u8("operation tag")? {
            OP_CREATE_COLLECTION => OpRef::CreateCollection {
                name: self.str("collection name")?,
            },
            OP_DROP_COLLECTION => OpRef::DropCollection {
                name: self.str("collection name")?,
            },
            OP_SET_METADATA => {
                let collection = self.str("collection name")?;
                let key = self.str("metadata key")?;
                let value = match self.u8("metadata presence")? {
                    ABSENT => None,
                    PRESENT => Some(self.str("metadata value")?),
                    other => {
                        return Err(
                            self.bad(format!("metadata presence byte {other} is neither 0 nor 1"))
                        );
                    }
                };
                OpRef::SetMetadata {
                    collection,
                    key,
                    value,
                }
            }
            OP_UPSERT => OpRef::Upsert {
                collection: self.str("collection name")?,
                id: self.str("record id")?,
                attrs: self.attributes()?,
            },
            OP_DELETE => OpRef::Delete {
                collection: self.str("collection name")?,
                id: self.str("record id")?,
            },
            other => return Err(self.unknown_tag("operation", other, tag_at)),
        })
    }

    fn attributes(&mut self) -> Result<AttrsRef<'a>, FormatError> {
        let n = self.u32("attribute count")? as usize;
        if n > self.left() / MIN_ATTR_LEN {
            return Err(self.bad(format!(
                "{n} attributes cannot fit in the {} payload bytes left",
                self.left()
            )));
        }
        let start = self.pos;
        let mut prev: Option<&str> = None;
        for _ in 0..n {
            let name_at = self.pos;
            let name = self.str("attribute name")?;
            // Canonical form: names strictly ascending, so one set of
            // attributes has exactly one encoding and no duplicate is lost.
            if prev.is_some_and(|p| p >= name) {
                self.pos = name_at;
                return Err(self.bad(format!(
                    "attribute name {name:?} is not in strictly ascending order"
                )));
            }
            prev = Some(name);
            self.value()?;
        }
        Ok(AttrsRef::new(n, &self.buf[start..self.pos]))
    }

    /// One attribute value (SPEC.md §5.3), fully validated.
    pub(crate) fn value(&mut self) -> Result<ValueRef<'a>, FormatError> {
        let tag_at = self.pos;
        Ok(match self.u8("value tag")? {
            VAL_NULL => ValueRef::Null,
            VAL_FALSE => ValueRef::Bool(false),
            VAL_TRUE => ValueRef::Bool(true),
            VAL_INT => ValueRef::Int(i64::from_le_bytes(self.array("integer value")?)),
            VAL_FLOAT => ValueRef::Float(f64::from_bits(u64::from_le_bytes(
                self.array("float value")?,
            ))),
            VAL_STR => ValueRef::Str(self.str("string value")?),
            VAL_LIST => {
                let n = self.u32("list length")? as usize;
                if n > self.left() / MIN_STR_LEN {
                    return Err(self.bad(format!(
                        "{n} list items cannot fit in the {} payload bytes left",
                        self.left()
                    )));
                }
                let start = self.pos;
                for _ in 0..n {
                    self.str("list item")?;
                }
                ValueRef::List(ListRef::new(n, &self.buf[start..self.pos]))
            }
            other => return Err(self.unknown_tag("value", other, tag_at)),
        })
    }
}
