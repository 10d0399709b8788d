//! Records as callers write and read them.

use nidus_format::{Attributes, IntOutOfRange, Value};

/// One record: a caller-chosen id (unique within its collection), a vector
/// and typed attributes.
///
/// On the way in the vector may have any non-zero length; the store keeps
/// (and returns) it scaled to unit length.
///
/// Limits, checked by every write: the id is 1 to [`MAX_ID_BYTES`] bytes,
/// attribute names 1 to [`MAX_NAME_BYTES`], and the attributes encode to at
/// most about [`MAX_ATTRS_BYTES`].
///
/// [`MAX_ID_BYTES`]: crate::MAX_ID_BYTES
/// [`MAX_NAME_BYTES`]: crate::MAX_NAME_BYTES
/// [`MAX_ATTRS_BYTES`]: crate::MAX_ATTRS_BYTES
///
/// Attributes take any value with a conversion to [`Value`]: strings,
/// numbers of every integer and float type, booleans, string lists
/// (`vec!["a", "b"]`, `["a", "b"]`) and `Option`s (`None` is null). An
/// integer no [`Value::Int`] can hold (a `u64`, `usize`, `u128` or `i128`
/// past `i64`) is never wrapped: `attr` remembers it, and the write that
/// gets the record refuses it with `InvalidInput`, naming the record and
/// the attribute.
///
/// ```
/// use nidus_store::{ErrorKind, Options, Record, Store};
/// # let tmp = tempfile::tempdir().expect("temp dir");
/// let mut store = Store::open(tmp.path(), Options::new(2))?;
/// let i: usize = 7;
/// let r = Record::new("a", [1.0, 0.0])
///     .attr("year", 2015 + i % 10)
///     .attr("tags", vec!["x", "y"])
///     .attr("owner", None::<&str>);
/// store.upsert("docs", &[r])?;
///
/// let too_big = Record::new("b", [0.0, 1.0]).attr("bytes", u64::MAX);
/// let err = store.upsert("docs", &[too_big]).unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::InvalidInput);
/// assert!(err.to_string().contains(r#"attribute "bytes" of record "b""#), "{err}");
/// # Ok::<(), nidus_store::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// The id, unique within the collection; not empty.
    pub id: String,
    /// The vector (`dimension` finite components, not all zero).
    pub vector: Vec<f32>,
    /// The attributes.
    pub attrs: Attributes,
    /// Attributes given to [`Record::attr`] whose integers no [`Value`] can
    /// hold, refused by the write that gets this record.
    out_of_range: Vec<(String, IntOutOfRange)>,
}

impl Record {
    /// A record without attributes.
    pub fn new(id: impl Into<String>, vector: impl Into<Vec<f32>>) -> Record {
        Record {
            id: id.into(),
            vector: vector.into(),
            attrs: Attributes::new(),
            out_of_range: Vec::new(),
        }
    }

    /// Adds (or replaces) attribute `name`. An integer out of `i64`'s
    /// range leaves the attribute out and makes the write that gets this
    /// record fail (see [`Record`]), until `name` is set again.
    pub fn attr(
        mut self,
        name: impl Into<String>,
        value: impl TryInto<Value, Error: Into<IntOutOfRange>>,
    ) -> Record {
        let name = name.into();
        self.out_of_range.retain(|(n, _)| *n != name);
        match value.try_into() {
            Ok(v) => {
                self.attrs.insert(name, v);
            }
            Err(e) => {
                self.attrs.remove(&name);
                self.out_of_range.push((name, e.into()));
            }
        }
        self
    }

    /// Replaces all attributes (forgetting any out-of-range value given to
    /// [`Record::attr`]).
    pub fn with_attrs(mut self, attrs: Attributes) -> Record {
        self.attrs = attrs;
        self.out_of_range.clear();
        self
    }

    /// The first attribute given to [`Record::attr`] with an integer no
    /// [`Value`] can hold, if any.
    pub(crate) fn out_of_range(&self) -> Option<&(String, IntOutOfRange)> {
        self.out_of_range.first()
    }
}
