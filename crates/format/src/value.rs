//! Typed attribute values (SPEC.md §5): the shared vocabulary of every layer.

use std::collections::BTreeMap;

/// A record's attributes: name to value, kept sorted by name so that the same
/// attributes always encode to the same bytes. A name that is not in the map
/// is *absent*, which is different from being present with [`Value::Null`].
pub type Attributes = BTreeMap<String, Value>;

/// One typed attribute value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Present, but explicitly null (distinct from an absent attribute).
    Null,
    /// A boolean.
    Bool(bool),
    /// A signed 64-bit integer.
    Int(i64),
    /// A 64-bit float (any bit pattern round-trips, NaN included).
    Float(f64),
    /// A UTF-8 string.
    Str(String),
    /// A list of UTF-8 strings (tags, paths, ...).
    List(Vec<String>),
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}
impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}
impl From<i32> for Value {
    fn from(v: i32) -> Self {
        Value::Int(i64::from(v))
    }
}
impl From<u32> for Value {
    fn from(v: u32) -> Self {
        Value::Int(i64::from(v))
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Float(v)
    }
}
impl From<f32> for Value {
    fn from(v: f32) -> Self {
        Value::Float(f64::from(v))
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Str(v.to_owned())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Str(v)
    }
}
impl From<Vec<String>> for Value {
    fn from(v: Vec<String>) -> Self {
        Value::List(v)
    }
}
impl From<&[&str]> for Value {
    fn from(v: &[&str]) -> Self {
        Value::List(v.iter().map(|s| (*s).to_owned()).collect())
    }
}
