//! The value tree: what [`parse`](super::parse) builds and
//! [`write_json`] prints.

use std::fmt;

use super::float::literal_to_f32;
use super::writer::write_json;

/// A JSON value. Objects keep their keys in document order.
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number, kept as its literal text.
    Number(Number),
    /// A string.
    Str(String),
    /// An array.
    Array(Vec<Json>),
    /// An object: keys are unique (the reader refuses duplicates).
    Object(Vec<(String, Json)>),
}

impl Json {
    /// The value under `key` if this is an object holding it.
    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Object(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The JSON type name, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Json::Null => "null",
            Json::Bool(_) => "a boolean",
            Json::Number(_) => "a number",
            Json::Str(_) => "a string",
            Json::Array(_) => "an array",
            Json::Object(_) => "an object",
        }
    }
}

impl fmt::Display for Json {
    /// Compact JSON text (no insignificant whitespace).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        write_json(&mut out, self);
        f.write_str(&out)
    }
}

/// A JSON number as written: grammar-checked, converted on demand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Number(String);

impl Number {
    /// Wraps a literal the parser has checked against the number grammar
    /// (private to the module, so every `Number` holds a valid literal).
    pub(super) fn from_checked_literal(literal: &str) -> Self {
        Number(literal.to_owned())
    }

    /// The literal text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the literal has neither fraction nor exponent.
    pub fn is_integer(&self) -> bool {
        !self.0.contains(['.', 'e', 'E'])
    }

    /// The value as an `i64`, if it is an integer literal in range.
    pub fn as_i64(&self) -> Option<i64> {
        if self.is_integer() {
            self.0.parse().ok()
        } else {
            None
        }
    }

    /// The nearest `f64`, or `None` when the magnitude overflows `f64`.
    pub fn as_f64(&self) -> Option<f64> {
        self.0.parse::<f64>().ok().filter(|v| v.is_finite())
    }

    /// The nearest `f32` (one correct rounding from the literal), or `None`
    /// when the magnitude overflows `f32`.
    pub fn as_f32(&self) -> Option<f32> {
        literal_to_f32(&self.0)
    }
}
