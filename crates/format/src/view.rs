//! Borrowed views of a verified batch payload (SPEC.md §5): the batch read
//! in place, without allocating, for callers that keep only part of it
//! (an index that interns collection names, a store that appends vectors
//! to one arena, a tool that prints). [`Reader::next_ref`](crate::Reader::next_ref)
//! hands them out; every byte was validated before the view exists, so
//! reading one never fails.

use std::fmt;

use crate::batch::{Batch, Op};
use crate::codec::Cursor;
use crate::content::{RowFault, check_vector_block};
use crate::header::Header;
use crate::value::{Attributes, Value};

/// One batch, borrowed from the reader's buffer: its vector block as raw
/// little-endian bytes and its ops, decoded on demand.
#[derive(Clone, Copy)]
pub struct BatchRef<'a> {
    op_count: usize,
    row_count: usize,
    dimension: usize,
    vectors: &'a [u8],
    ops: &'a [u8],
}

impl<'a> BatchRef<'a> {
    pub(crate) fn new(
        op_count: usize,
        row_count: usize,
        header: &Header,
        vectors: &'a [u8],
        ops: &'a [u8],
    ) -> Self {
        BatchRef::from_parts(op_count, row_count, header.dimension as usize, vectors, ops)
    }

    /// A view over parts of a payload validated earlier (see
    /// [`crate::Frame`]).
    pub(crate) fn from_parts(
        op_count: usize,
        row_count: usize,
        dimension: usize,
        vectors: &'a [u8],
        ops: &'a [u8],
    ) -> Self {
        BatchRef {
            op_count,
            row_count,
            dimension,
            vectors,
            ops,
        }
    }

    /// The number of operations.
    pub fn op_count(&self) -> usize {
        self.op_count
    }

    /// The number of vector rows, which is the number of upserts.
    pub fn row_count(&self) -> usize {
        self.row_count
    }

    /// The elements per row (the file's dimension).
    pub fn dimension(&self) -> usize {
        self.dimension
    }

    /// The vector block as stored: `row_count × dimension` little-endian
    /// f32s, row-major (SPEC.md §5.1).
    pub fn vector_bytes(&self) -> &'a [u8] {
        self.vectors
    }

    /// Appends every row to `out` (`row_count × dimension` values; the i-th
    /// upsert's row lands at `out.len() + i × dimension` as it was before
    /// the call). A bulk copy on little-endian machines.
    pub fn append_vectors_to(&self, out: &mut Vec<f32>) {
        let (cells, _) = self.vectors.as_chunks::<4>();
        out.reserve(cells.len());
        out.extend(cells.iter().map(|b| f32::from_le_bytes(*b)));
    }

    /// Checks the rows against the content rules (SPEC.md §5.6), naming
    /// the first that breaks them: what [`Reader::enforce_content_rules`]
    /// checks, for a reader that did not ask for it.
    ///
    /// [`Reader::enforce_content_rules`]: crate::Reader::enforce_content_rules
    pub fn check_content(&self) -> Result<(), RowFault> {
        check_vector_block(self.vectors, self.dimension)
    }

    /// The encoded operations (validated), without the payload's padding.
    pub(crate) fn op_bytes(&self) -> &'a [u8] {
        self.ops
    }

    /// The operations, in order.
    pub fn ops(&self) -> OpIter<'a> {
        OpIter {
            cursor: Cursor::validated(self.ops),
            left: self.op_count,
        }
    }

    /// Copies the batch into `batch`, replacing its ops and vectors (their
    /// capacity is reused).
    pub fn to_batch(&self, batch: &mut Batch) {
        batch.ops.clear();
        batch.ops.reserve(self.op_count);
        batch.ops.extend(self.ops().map(|op| op.to_op()));
        batch.vectors.clear();
        self.append_vectors_to(&mut batch.vectors);
    }
}

impl fmt::Debug for BatchRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BatchRef")
            .field("ops", &self.ops().collect::<Vec<_>>())
            .field("row_count", &self.row_count)
            .field("dimension", &self.dimension)
            .finish()
    }
}

/// The operations of a [`BatchRef`], in order.
pub struct OpIter<'a> {
    cursor: Cursor<'a>,
    left: usize,
}

impl<'a> Iterator for OpIter<'a> {
    type Item = OpRef<'a>;

    fn next(&mut self) -> Option<OpRef<'a>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        // The bytes were validated when the view was made; an error here
        // would be a bug, and ends the iteration rather than panicking.
        let op = self.cursor.op().ok();
        debug_assert!(op.is_some(), "validated op failed to re-parse");
        if op.is_none() {
            self.left = 0;
        }
        op
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.left))
    }
}

/// One operation of a [`BatchRef`], borrowing its strings. See [`Op`] for
/// what each one means.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum OpRef<'a> {
    /// [`Op::CreateCollection`].
    CreateCollection {
        /// The collection's name.
        name: &'a str,
    },
    /// [`Op::DropCollection`].
    DropCollection {
        /// The collection's name.
        name: &'a str,
    },
    /// [`Op::SetMetadata`].
    SetMetadata {
        /// The collection's name.
        collection: &'a str,
        /// The metadata key.
        key: &'a str,
        /// The new value, or `None` to remove the key.
        value: Option<&'a str>,
    },
    /// [`Op::Upsert`]; its vector is the batch's next row.
    Upsert {
        /// The collection's name.
        collection: &'a str,
        /// The record's id.
        id: &'a str,
        /// The record's attributes.
        attrs: AttrsRef<'a>,
    },
    /// [`Op::Delete`].
    Delete {
        /// The collection's name.
        collection: &'a str,
        /// The record's id.
        id: &'a str,
    },
}

impl OpRef<'_> {
    /// The owned operation.
    pub fn to_op(&self) -> Op {
        match *self {
            OpRef::CreateCollection { name } => Op::CreateCollection { name: name.into() },
            OpRef::DropCollection { name } => Op::DropCollection { name: name.into() },
            OpRef::SetMetadata {
                collection,
                key,
                value,
            } => Op::SetMetadata {
                collection: collection.into(),
                key: key.into(),
                value: value.map(str::to_owned),
            },
            OpRef::Upsert {
                collection,
                id,
                attrs,
            } => Op::Upsert {
                collection: collection.into(),
                id: id.into(),
                attrs: attrs.to_attributes(),
            },
            OpRef::Delete { collection, id } => Op::Delete {
                collection: collection.into(),
                id: id.into(),
            },
        }
    }
}

/// The attributes of an upsert, borrowed: names in ascending order.
#[derive(Clone, Copy, PartialEq)]
pub struct AttrsRef<'a> {
    count: usize,
    bytes: &'a [u8],
}

impl<'a> AttrsRef<'a> {
    pub(crate) fn new(count: usize, bytes: &'a [u8]) -> Self {
        AttrsRef { count, bytes }
    }

    /// The number of attributes.
    pub fn len(&self) -> usize {
        self.count
    }

    /// True if there are none.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The attributes' canonical encoding (SPEC.md §5.2, after the count):
    /// a compact form to keep and decode later.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// `(name, value)` pairs in ascending name order.
    pub fn iter(&self) -> AttrIter<'a> {
        AttrIter {
            cursor: Cursor::validated(self.bytes),
            left: self.count,
        }
    }

    /// The value of attribute `name`, if present.
    pub fn get(&self, name: &str) -> Option<ValueRef<'a>> {
        self.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    /// The owned attributes.
    pub fn to_attributes(&self) -> Attributes {
        // Inserting in (already ascending) order: one node allocation for a
        // small map, where `collect` would also build and sort a Vec.
        let mut attrs = Attributes::new();
        for (name, value) in self.iter() {
            attrs.insert(name.to_owned(), value.to_value());
        }
        attrs
    }
}

impl fmt::Debug for AttrsRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

/// The attributes of an [`AttrsRef`], in ascending name order.
pub struct AttrIter<'a> {
    cursor: Cursor<'a>,
    left: usize,
}

impl<'a> Iterator for AttrIter<'a> {
    type Item = (&'a str, ValueRef<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let item = (|| Some((self.cursor.str("").ok()?, self.cursor.value().ok()?)))();
        debug_assert!(item.is_some(), "validated attribute failed to re-parse");
        if item.is_none() {
            self.left = 0;
        }
        item
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.left))
    }
}

/// One attribute value, borrowing its strings. See [`Value`].
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum ValueRef<'a> {
    /// [`Value::Null`].
    Null,
    /// [`Value::Bool`].
    Bool(bool),
    /// [`Value::Int`].
    Int(i64),
    /// [`Value::Float`].
    Float(f64),
    /// [`Value::Str`].
    Str(&'a str),
    /// [`Value::List`].
    List(ListRef<'a>),
}

impl ValueRef<'_> {
    /// The owned value.
    pub fn to_value(&self) -> Value {
        match *self {
            ValueRef::Null => Value::Null,
            ValueRef::Bool(b) => Value::Bool(b),
            ValueRef::Int(i) => Value::Int(i),
            ValueRef::Float(f) => Value::Float(f),
            ValueRef::Str(s) => Value::Str(s.to_owned()),
            ValueRef::List(l) => Value::List(l.iter().map(str::to_owned).collect()),
        }
    }
}

/// A list of strings, borrowed.
#[derive(Clone, Copy, PartialEq)]
pub struct ListRef<'a> {
    count: usize,
    bytes: &'a [u8],
}

impl<'a> ListRef<'a> {
    pub(crate) fn new(count: usize, bytes: &'a [u8]) -> Self {
        ListRef { count, bytes }
    }

    /// The number of items.
    pub fn len(&self) -> usize {
        self.count
    }

    /// True if the list is empty.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The items, in order.
    pub fn iter(&self) -> ListIter<'a> {
        ListIter {
            cursor: Cursor::validated(self.bytes),
            left: self.count,
        }
    }
}

impl fmt::Debug for ListRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// The items of a [`ListRef`].
pub struct ListIter<'a> {
    cursor: Cursor<'a>,
    left: usize,
}

impl<'a> Iterator for ListIter<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let item = self.cursor.str("").ok();
        debug_assert!(item.is_some(), "validated list item failed to re-parse");
        if item.is_none() {
            self.left = 0;
        }
        item
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.left))
    }
}
