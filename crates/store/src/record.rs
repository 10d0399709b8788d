//! Records as callers write and read them.

use nidus_format::{Attributes, Value};

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
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// The id, unique within the collection; not empty.
    pub id: String,
    /// The vector (`dimension` finite components, not all zero).
    pub vector: Vec<f32>,
    /// The attributes.
    pub attrs: Attributes,
}

impl Record {
    /// A record without attributes.
    pub fn new(id: impl Into<String>, vector: impl Into<Vec<f32>>) -> Record {
        Record {
            id: id.into(),
            vector: vector.into(),
            attrs: Attributes::new(),
        }
    }

    /// Adds (or replaces) attribute `name`.
    pub fn attr(mut self, name: impl Into<String>, value: impl Into<Value>) -> Record {
        self.attrs.insert(name.into(), value.into());
        self
    }

    /// Replaces all attributes.
    pub fn with_attrs(mut self, attrs: Attributes) -> Record {
        self.attrs = attrs;
        self
    }
}
