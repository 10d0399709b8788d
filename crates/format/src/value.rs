//! Typed attribute values (SPEC.md §5): the shared vocabulary of every layer.
//!
//! Building: `From` for every type that maps onto a [`Value`] without loss
//! (booleans, floats, strings, string lists, `Option`, and the integer types
//! that always fit an `i64`), and `TryFrom` for the integer types that may
//! not (`u64`, `usize`, `i128`, `u128`): a value out of range is an
//! [`IntOutOfRange`] error, never a silent wrap. Reading: the `as_*`
//! accessors and a JSON-like [`Display`](fmt::Display).

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::fmt;

/// A record's attributes: name to value, kept sorted by name so that the same
/// attributes always encode to the same bytes. A name that is not in the map
/// is *absent*, which is different from being present with [`Value::Null`].
pub type Attributes = BTreeMap<String, Value>;

/// One typed attribute value.
///
/// ```
/// use nidus_format::Value;
///
/// assert_eq!(Value::from(7_u8), Value::Int(7));
/// assert_eq!(Value::try_from(7_usize), Ok(Value::Int(7)));
/// assert!(Value::try_from(u64::MAX).is_err());
/// assert_eq!(Value::from(vec!["a", "b"]), Value::List(vec!["a".into(), "b".into()]));
/// assert_eq!(Value::from(None::<&str>), Value::Null);
///
/// let v = Value::from("src/a.rs");
/// assert_eq!(v.as_str(), Some("src/a.rs"));
/// assert_eq!(v.to_string(), r#""src/a.rs""#);
/// assert_eq!(Value::from(["x", "y"]).to_string(), r#"["x", "y"]"#);
/// ```
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

impl Value {
    /// The string of a [`Value::Str`]; `None` for every other kind.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The integer of a [`Value::Int`]; `None` for every other kind (a
    /// float is not truncated).
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Value::Int(i) => Some(i),
            _ => None,
        }
    }

    /// The number of a [`Value::Float`] or a [`Value::Int`] (converted,
    /// rounding to the nearest `f64` beyond 2^53, as filters compare both
    /// kinds as numbers); `None` for every other kind.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Value::Float(f) => Some(f),
            Value::Int(i) => Some(i as f64),
            _ => None,
        }
    }

    /// The boolean of a [`Value::Bool`]; `None` for every other kind.
    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }

    /// The elements of a [`Value::List`]; `None` for every other kind.
    pub fn as_list(&self) -> Option<&[String]> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }

    /// Whether this is [`Value::Null`].
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }
}

/// JSON-like text: `null`, `true`, `42`, `0.5`, `"text"` (escaped as JSON
/// escapes it), `["a", "b"]`. A float always shows a decimal point or an
/// exponent (`2.0`, `1e300`), so it reads apart from an int; the floats JSON
/// has no words for print as `NaN`, `Infinity` and `-Infinity`.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("null"),
            Value::Bool(b) => write!(f, "{b}"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) if x.is_nan() => f.write_str("NaN"),
            Value::Float(x) if x.is_infinite() => {
                f.write_str(if *x > 0.0 { "Infinity" } else { "-Infinity" })
            }
            // Debug keeps the ".0" of whole floats and round-trips exactly.
            Value::Float(x) => write!(f, "{x:?}"),
            Value::Str(s) => write_json_string(f, s),
            Value::List(items) => {
                f.write_str("[")?;
                for (i, s) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write_json_string(f, s)?;
                }
                f.write_str("]")
            }
        }
    }
}

fn write_json_string(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    f.write_str("\"")?;
    for c in s.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            c if u32::from(c) < 0x20 => write!(f, "\\u{:04x}", u32::from(c))?,
            c => write!(f, "{c}")?,
        }
    }
    f.write_str("\"")
}

/// An integer that does not fit the `i64` of [`Value::Int`]: the error of
/// `Value::try_from` for `u64`, `usize`, `i128` and `u128`.
///
/// ```
/// use nidus_format::Value;
/// let e = Value::try_from(u64::MAX).unwrap_err();
/// assert_eq!(e.digits(), "18446744073709551615");
/// assert!(e.to_string().contains("does not fit"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntOutOfRange {
    digits: String,
}

impl IntOutOfRange {
    /// The integer that did not fit, in decimal.
    pub fn digits(&self) -> &str {
        &self.digits
    }
}

impl fmt::Display for IntOutOfRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the integer {} does not fit an attribute integer (a 64-bit signed integer, {}..={})",
            self.digits,
            i64::MIN,
            i64::MAX
        )
    }
}

impl std::error::Error for IntOutOfRange {}

/// Lets one bound, `TryInto<Value, Error: Into<IntOutOfRange>>`, accept both
/// the lossless `From` conversions (whose error is `Infallible`) and the
/// fallible integer ones.
impl From<Infallible> for IntOutOfRange {
    fn from(never: Infallible) -> Self {
        match never {}
    }
}

/// Integer types whose every value fits an `i64`.
macro_rules! from_lossless_int {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            fn from(v: $t) -> Self {
                Value::Int(i64::from(v))
            }
        }
    )*};
}
from_lossless_int!(i8, i16, i32, i64, u8, u16, u32);

// Every platform Rust supports has pointers of at most 64 bits.
const _: () = assert!(isize::BITS <= i64::BITS);
impl From<isize> for Value {
    fn from(v: isize) -> Self {
        Value::Int(v as i64)
    }
}

/// Integer types with values past `i64`: an error, never a wrap.
macro_rules! try_from_wide_int {
    ($($t:ty),*) => {$(
        impl TryFrom<$t> for Value {
            type Error = IntOutOfRange;
            fn try_from(v: $t) -> Result<Self, IntOutOfRange> {
                i64::try_from(v).map(Value::Int).map_err(|_| IntOutOfRange {
                    digits: v.to_string(),
                })
            }
        }
        impl TryFrom<Option<$t>> for Value {
            type Error = IntOutOfRange;
            fn try_from(v: Option<$t>) -> Result<Self, IntOutOfRange> {
                v.map_or(Ok(Value::Null), Value::try_from)
            }
        }
    )*};
}
try_from_wide_int!(u64, usize, i128, u128);

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
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
impl From<&String> for Value {
    fn from(v: &String) -> Self {
        Value::Str(v.clone())
    }
}
/// A list of strings (`Vec<&str>`, `Vec<String>`, ...).
impl<T: Into<String>> From<Vec<T>> for Value {
    fn from(v: Vec<T>) -> Self {
        Value::List(v.into_iter().map(Into::into).collect())
    }
}
/// A list of strings (`["a", "b"]`).
impl<T: Into<String>, const N: usize> From<[T; N]> for Value {
    fn from(v: [T; N]) -> Self {
        Value::List(v.into_iter().map(Into::into).collect())
    }
}
/// A list of strings (`&["a", "b"][..]`, `&names[..]`).
impl<T: AsRef<str>> From<&[T]> for Value {
    fn from(v: &[T]) -> Self {
        Value::List(v.iter().map(|s| s.as_ref().to_owned()).collect())
    }
}
/// A list of strings, copied from a borrowed `Vec`.
impl<T: AsRef<str>> From<&Vec<T>> for Value {
    fn from(v: &Vec<T>) -> Self {
        Value::from(v.as_slice())
    }
}
/// `None` is [`Value::Null`]; `Some(v)` is `v`'s value.
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_integer_type_converts_and_wide_ones_refuse_what_does_not_fit() {
        assert_eq!(Value::from(-8_i8), Value::Int(-8));
        assert_eq!(Value::from(i16::MIN), Value::Int(-32768));
        assert_eq!(Value::from(u8::MAX), Value::Int(255));
        assert_eq!(Value::from(u16::MAX), Value::Int(65535));
        assert_eq!(Value::from(u32::MAX), Value::Int(4_294_967_295));
        assert_eq!(Value::from(i64::MIN), Value::Int(i64::MIN));
        assert_eq!(Value::from(-3_isize), Value::Int(-3));
        assert_eq!(Value::try_from(2021_usize), Ok(Value::Int(2021)));
        assert_eq!(Value::try_from(i64::MAX as u64), Ok(Value::Int(i64::MAX)));
        assert_eq!(
            Value::try_from(i128::from(i64::MIN)),
            Ok(Value::Int(i64::MIN))
        );
        assert_eq!(Value::try_from(5_u128), Ok(Value::Int(5)));
        let past = i64::MAX as u64 + 1;
        assert_eq!(
            Value::try_from(past).unwrap_err().digits(),
            "9223372036854775808"
        );
        assert!(Value::try_from(usize::MAX).is_err());
        assert_eq!(
            Value::try_from(i128::from(i64::MIN) - 1)
                .unwrap_err()
                .digits(),
            "-9223372036854775809"
        );
        assert!(Value::try_from(u128::MAX).is_err());
        assert_eq!(Value::try_from(None::<u64>), Ok(Value::Null));
        assert!(Value::try_from(Some(u64::MAX)).is_err());
    }

    #[test]
    fn lists_options_and_strings_convert() {
        let ab = Value::List(vec!["a".into(), "b".into()]);
        assert_eq!(Value::from(vec!["a", "b"]), ab);
        assert_eq!(Value::from(vec!["a".to_owned(), "b".to_owned()]), ab);
        assert_eq!(Value::from(["a", "b"]), ab);
        assert_eq!(Value::from(&["a", "b"][..]), ab);
        let owned = vec!["a".to_owned(), "b".to_owned()];
        assert_eq!(Value::from(&owned), ab);
        assert_eq!(Value::from(&owned[..]), ab);
        assert_eq!(Value::from(Vec::<String>::new()), Value::List(vec![]));
        assert_eq!(Value::from(None::<i64>), Value::Null);
        assert_eq!(Value::from(Some(3)), Value::Int(3));
        assert_eq!(Value::from(Some("x")), Value::Str("x".into()));
        assert_eq!(Value::from(&"s".to_owned()), Value::Str("s".into()));
        assert_eq!(Value::from(0.5_f32), Value::Float(0.5));
    }

    #[test]
    fn accessors_answer_only_for_their_kind() {
        let all = [
            Value::Null,
            Value::Bool(true),
            Value::Int(-2),
            Value::Float(0.25),
            Value::Str("s".into()),
            Value::List(vec!["t".into()]),
        ];
        let got: Vec<_> = all
            .iter()
            .map(|v| {
                (
                    v.is_null(),
                    v.as_bool(),
                    v.as_i64(),
                    v.as_f64(),
                    v.as_str(),
                    v.as_list().map(<[String]>::len),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (true, None, None, None, None, None),
                (false, Some(true), None, None, None, None),
                (false, None, Some(-2), Some(-2.0), None, None),
                (false, None, None, Some(0.25), None, None),
                (false, None, None, None, Some("s"), None),
                (false, None, None, None, None, Some(1)),
            ]
        );
    }

    #[test]
    fn display_is_json_like() {
        let cases = [
            (Value::Null, "null"),
            (Value::Bool(false), "false"),
            (Value::Int(-42), "-42"),
            (Value::Float(2.0), "2.0"),
            (Value::Float(0.1), "0.1"),
            (Value::Float(1e300), "1e300"),
            (Value::Float(f64::NAN), "NaN"),
            (Value::Float(f64::INFINITY), "Infinity"),
            (Value::Float(f64::NEG_INFINITY), "-Infinity"),
            (Value::Str("src/a.rs".into()), r#""src/a.rs""#),
            (
                Value::Str("q\"b\\n\n\t\u{1}é".into()),
                r#""q\"b\\n\n\t\u0001é""#,
            ),
            (Value::List(vec![]), "[]"),
            (
                Value::List(vec!["a".into(), "b\"".into()]),
                r#"["a", "b\""]"#,
            ),
        ];
        for (v, want) in cases {
            assert_eq!(v.to_string(), want, "{v:?}");
        }
    }
}
