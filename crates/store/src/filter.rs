//! Attribute filters (SPEC.md §7.4): what a caller writes ([`Filter`]) and the
//! compiled form the store evaluates into a row bitmap before ranking.

use std::cmp::Ordering;
use std::ops::Not;

use nidus_format::{IntOutOfRange, Value};

use crate::attrs::{Keys, lookup};
use crate::error::{Error, Result};
use crate::glob::Glob;
use crate::wide::{self, Use, argument};

/// Filters nested deeper than this are refused, so that evaluation can never
/// exhaust the stack whatever the input.
pub const MAX_FILTER_DEPTH: usize = 64;

/// A predicate on a record's attributes.
///
/// Semantics (SPEC.md §7.4):
/// - An attribute is *absent* (not in the record) or *present*, possibly with
///   [`Value::Null`]. `Exists` is true for present attributes, `Null` included.
/// - `Eq` compares numbers numerically (`Int(2)` equals `Float(2.0)`), strings,
///   booleans and null exactly; a `List` attribute equals a string it
///   contains, or a list equal to it. `Ne(f, v)` is exactly `Not(Eq(f, v))`,
///   so it also matches records where `f` is absent; likewise `NotIn`.
/// - `Lt`/`Le`/`Gt`/`Ge` take a numeric bound (`Int` or `Float`, not NaN) and
///   match only numeric attributes, comparing ints and floats exactly.
/// - `Glob` matches a string attribute (or any element of a list attribute)
///   against an anchored path pattern: `*` within one `/`-separated segment,
///   `**` across segments, `?`, `[abc]`, `[a-z]`, `[!a-z]`, `\x` (see
///   [`Filter::glob`]).
/// - `And(vec![])` is true, `Or(vec![])` is false.
///
/// # Absent attributes
///
/// A record without attribute `f` fails every test *on* `f`: `Eq`, `In`,
/// `Lt`, `Le`, `Gt`, `Ge`, `Glob` and `Exists` are false for it, and so
/// their negations `Ne`, `NotIn`, `Missing` and `Not(..)` are true. Nothing
/// checks names against the store, so a misspelled name is simply absent
/// everywhere: `eq` on it matches no record and `ne` matches every one.
/// Tools that take filters from users can check the names against
/// [`Store::attribute_names`](crate::Store::attribute_names).
///
/// ```
/// use nidus_store::{Attributes, Filter, Value};
/// let mut attrs = Attributes::new();
/// attrs.insert("language".into(), Value::from("go"));
/// // "langauge" is absent from the record: eq is false, ne is true.
/// assert!(!Filter::eq("langauge", "go").matches(&attrs)?);
/// assert!(Filter::ne("langauge", "go").matches(&attrs)?);
/// assert!(!Filter::gt("langauge", 1).matches(&attrs)?);
/// assert!(Filter::missing("langauge").matches(&attrs)?);
/// # Ok::<(), nidus_store::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Filter {
    /// The attribute equals the value.
    Eq(String, Value),
    /// Not `Eq` (matches records without the attribute too).
    Ne(String, Value),
    /// The attribute equals one of the values.
    In(String, Vec<Value>),
    /// Not `In` (matches records without the attribute too).
    NotIn(String, Vec<Value>),
    /// Numeric attribute `<` bound.
    Lt(String, Value),
    /// Numeric attribute `<=` bound.
    Le(String, Value),
    /// Numeric attribute `>` bound.
    Gt(String, Value),
    /// Numeric attribute `>=` bound.
    Ge(String, Value),
    /// A string attribute (or a list element) matches the glob pattern.
    Glob(String, String),
    /// The attribute is present (possibly null).
    Exists(String),
    /// The attribute is absent.
    Missing(String),
    /// All of the filters match.
    And(Vec<Filter>),
    /// At least one of the filters matches.
    Or(Vec<Filter>),
    /// The filter does not match.
    Not(Box<Filter>),
}

/// The builders take values as [`Record::attr`](crate::Record::attr)
/// does: strings, booleans, floats, string lists, `Option`s and integers
/// of every type. An integer past `i64` (a `u64`, `usize`, `u128` or `i128`
/// that no `Value::Int` holds) compares exactly all the same: no stored
/// number equals one, and a bound becomes the float bound that selects the
/// same stored numbers (a strict `lt`/`gt` then comes back as the
/// equivalent `Le`/`Ge` of that float).
///
/// ```
/// use nidus_store::{Attributes, Filter, Value};
/// let year: usize = 2021;
/// let attrs = Attributes::from([("year".to_owned(), Value::Int(2024))]);
/// assert!(Filter::ge("year", year).matches(&attrs)?);
/// assert!(Filter::lt("year", u64::MAX).matches(&attrs)?);
/// assert!(!Filter::eq("year", u64::MAX).matches(&attrs)?);
/// # Ok::<(), nidus_store::Error>(())
/// ```
impl Filter {
    /// `field == value`.
    pub fn eq(
        field: impl Into<String>,
        value: impl TryInto<Value, Error: Into<IntOutOfRange>>,
    ) -> Filter {
        Filter::Eq(field.into(), argument(value, Use::Equality))
    }
    /// `field != value` (absent fields match).
    pub fn ne(
        field: impl Into<String>,
        value: impl TryInto<Value, Error: Into<IntOutOfRange>>,
    ) -> Filter {
        Filter::Ne(field.into(), argument(value, Use::Equality))
    }
    /// `field` is one of `values`.
    pub fn is_in<V: TryInto<Value, Error: Into<IntOutOfRange>>>(
        field: impl Into<String>,
        values: impl IntoIterator<Item = V>,
    ) -> Filter {
        Filter::In(
            field.into(),
            values
                .into_iter()
                .map(|v| argument(v, Use::Equality))
                .collect(),
        )
    }
    /// `field` is none of `values` (absent fields match).
    pub fn not_in<V: TryInto<Value, Error: Into<IntOutOfRange>>>(
        field: impl Into<String>,
        values: impl IntoIterator<Item = V>,
    ) -> Filter {
        Filter::NotIn(
            field.into(),
            values
                .into_iter()
                .map(|v| argument(v, Use::Equality))
                .collect(),
        )
    }
    /// `field < bound` (numbers only).
    pub fn lt(
        field: impl Into<String>,
        bound: impl TryInto<Value, Error: Into<IntOutOfRange>>,
    ) -> Filter {
        match wide::bound(bound, Use::Upper) {
            (v, true) => Filter::Lt(field.into(), v),
            (v, false) => Filter::Le(field.into(), v),
        }
    }
    /// `field <= bound` (numbers only).
    pub fn le(
        field: impl Into<String>,
        bound: impl TryInto<Value, Error: Into<IntOutOfRange>>,
    ) -> Filter {
        Filter::Le(field.into(), argument(bound, Use::Upper))
    }
    /// `field > bound` (numbers only).
    pub fn gt(
        field: impl Into<String>,
        bound: impl TryInto<Value, Error: Into<IntOutOfRange>>,
    ) -> Filter {
        match wide::bound(bound, Use::Lower) {
            (v, true) => Filter::Gt(field.into(), v),
            (v, false) => Filter::Ge(field.into(), v),
        }
    }
    /// `field >= bound` (numbers only).
    pub fn ge(
        field: impl Into<String>,
        bound: impl TryInto<Value, Error: Into<IntOutOfRange>>,
    ) -> Filter {
        Filter::Ge(field.into(), argument(bound, Use::Lower))
    }
    /// `field` (a string, or any element of a list) matches the anchored
    /// glob `pattern` in full, with path semantics as in gitignore:
    /// - `*` is any run of characters within one segment (never `/`);
    /// - `**` is any run, `/` included; as a whole segment before `/`
    ///   (`src/**/x.rs`) it also matches no segment at all;
    /// - `?` is one character other than `/`; `[abc]`, `[a-z]`, `[!a-z]`
    ///   (or `[^a-z]`) are classes, which never match `/`; `\x` is a literal
    ///   `x`.
    ///
    /// A malformed pattern (an unclosed `[`, a trailing `\`) makes the call
    /// using the filter fail with `InvalidInput`.
    ///
    /// ```
    /// use nidus_store::{Attributes, Filter, Value};
    /// let path = |p: &str| Attributes::from([("path".to_owned(), Value::from(p))]);
    /// assert!(Filter::glob("path", "src/*.rs").matches(&path("src/a.rs"))?);
    /// assert!(!Filter::glob("path", "src/*.rs").matches(&path("src/deep/x.rs"))?);
    /// assert!(Filter::glob("path", "src/**/*.rs").matches(&path("src/deep/x.rs"))?);
    /// assert!(Filter::glob("path", "src/**/*.rs").matches(&path("src/a.rs"))?);
    /// # Ok::<(), nidus_store::Error>(())
    /// ```
    pub fn glob(field: impl Into<String>, pattern: impl Into<String>) -> Filter {
        Filter::Glob(field.into(), pattern.into())
    }
    /// `field` is present (null included).
    pub fn exists(field: impl Into<String>) -> Filter {
        Filter::Exists(field.into())
    }
    /// `field` is absent.
    pub fn missing(field: impl Into<String>) -> Filter {
        Filter::Missing(field.into())
    }
    /// All of `filters`.
    pub fn all(filters: impl IntoIterator<Item = Filter>) -> Filter {
        Filter::And(filters.into_iter().collect())
    }
    /// Any of `filters`.
    pub fn any(filters: impl IntoIterator<Item = Filter>) -> Filter {
        Filter::Or(filters.into_iter().collect())
    }
    /// `self` and `other`.
    pub fn and(self, other: Filter) -> Filter {
        match self {
            Filter::And(mut v) => {
                v.push(other);
                Filter::And(v)
            }
            s => Filter::And(vec![s, other]),
        }
    }
    /// `self` or `other`.
    pub fn or(self, other: Filter) -> Filter {
        match self {
            Filter::Or(mut v) => {
                v.push(other);
                Filter::Or(v)
            }
            s => Filter::Or(vec![s, other]),
        }
    }
    /// Whether `attrs` satisfy the filter; errors on an invalid filter (bad
    /// glob, non-numeric bound, nesting deeper than [`MAX_FILTER_DEPTH`]).
    pub fn matches(&self, attrs: &nidus_format::Attributes) -> Result<bool> {
        let mut keys = Keys::default();
        let row = keys.compact(attrs);
        Ok(Compiled::new(self, &keys)?.matches(&row))
    }
}

/// A copy: lets the calls that take `impl Into<Filter>` take a borrowed
/// filter too.
impl From<&Filter> for Filter {
    fn from(filter: &Filter) -> Filter {
        filter.clone()
    }
}

impl Not for Filter {
    type Output = Filter;
    fn not(self) -> Filter {
        Filter::Not(Box::new(self))
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum Num {
    Int(i64),
    Float(f64),
}

fn as_num(v: &Value) -> Option<Num> {
    match *v {
        Value::Int(i) => Some(Num::Int(i)),
        Value::Float(f) => Some(Num::Float(f)),
        _ => None,
    }
}

/// Exact comparison of an integer with a float (no rounding of either).
fn cmp_int_float(i: i64, f: f64) -> Option<Ordering> {
    if f.is_nan() {
        return None;
    }
    // Rounding is monotonic, so a strict inequality after rounding `i` holds
    // before it; only a tie needs the exact check below.
    let r = i as f64;
    match r.partial_cmp(&f)? {
        Ordering::Equal => {
            // `f` equals a rounded i64, so it is an integer of magnitude
            // <= 2^63 and fits an i128 exactly.
            Some(i128::from(i).cmp(&(f as i128)))
        }
        other => Some(other),
    }
}

fn cmp_num(a: Num, b: Num) -> Option<Ordering> {
    match (a, b) {
        (Num::Int(x), Num::Int(y)) => Some(x.cmp(&y)),
        (Num::Float(x), Num::Float(y)) => x.partial_cmp(&y),
        (Num::Int(x), Num::Float(y)) => cmp_int_float(x, y),
        (Num::Float(x), Num::Int(y)) => cmp_int_float(y, x).map(Ordering::reverse),
    }
}

/// `attr == want` under the filter semantics (see [`Filter`]).
fn value_eq(attr: &Value, want: &Value) -> bool {
    match (attr, want) {
        (Value::Null, Value::Null) => true,
        (Value::Bool(a), Value::Bool(b)) => a == b,
        (Value::Str(a), Value::Str(b)) => a == b,
        (Value::List(l), Value::Str(s)) => l.iter().any(|e| e == s),
        (Value::List(a), Value::List(b)) => a == b,
        _ => match (as_num(attr), as_num(want)) {
            (Some(a), Some(b)) => cmp_num(a, b) == Some(Ordering::Equal),
            _ => false,
        },
    }
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum CmpOp {
    Lt,
    Le,
    Gt,
    Ge,
}

/// A filter with attribute names resolved to interned ids and globs compiled.
/// A name no record ever had resolves to `None`: always absent.
#[derive(Debug)]
pub(crate) enum Compiled {
    Const(bool),
    Eq(Option<u32>, Value),
    In(Option<u32>, Vec<Value>),
    Cmp(Option<u32>, CmpOp, Num),
    Glob(Option<u32>, Glob),
    Exists(Option<u32>),
    And(Vec<Compiled>),
    Or(Vec<Compiled>),
    Not(Box<Compiled>),
}

impl Compiled {
    pub(crate) fn new(filter: &Filter, keys: &Keys) -> Result<Compiled> {
        Compiled::build(filter, keys, 0)
    }

    fn build(filter: &Filter, keys: &Keys, depth: usize) -> Result<Compiled> {
        if depth >= MAX_FILTER_DEPTH {
            return Err(Error::invalid(format!(
                "filter nested deeper than {MAX_FILTER_DEPTH} levels"
            )));
        }
        let key = |name: &str| keys.get(name);
        let cmp = |name: &str, op: CmpOp, bound: &Value| -> Result<Compiled> {
            match as_num(bound) {
                Some(Num::Float(f)) if f.is_nan() => Err(Error::invalid(format!(
                    "filter on {name:?}: a comparison bound must not be NaN"
                ))),
                Some(n) => Ok(Compiled::Cmp(key(name), op, n)),
                None => Err(Error::invalid(format!(
                    "filter on {name:?}: <, <=, >, >= need a number, got {bound:?}"
                ))),
            }
        };
        let children = |fs: &[Filter]| -> Result<Vec<Compiled>> {
            fs.iter()
                .map(|f| Compiled::build(f, keys, depth + 1))
                .collect()
        };
        Ok(match filter {
            Filter::Eq(n, v) => Compiled::Eq(key(n), v.clone()),
            Filter::Ne(n, v) => Compiled::Not(Box::new(Compiled::Eq(key(n), v.clone()))),
            Filter::In(n, vs) => Compiled::In(key(n), vs.clone()),
            Filter::NotIn(n, vs) => Compiled::Not(Box::new(Compiled::In(key(n), vs.clone()))),
            Filter::Lt(n, b) => cmp(n, CmpOp::Lt, b)?,
            Filter::Le(n, b) => cmp(n, CmpOp::Le, b)?,
            Filter::Gt(n, b) => cmp(n, CmpOp::Gt, b)?,
            Filter::Ge(n, b) => cmp(n, CmpOp::Ge, b)?,
            Filter::Glob(n, p) => Compiled::Glob(key(n), Glob::new(p)?),
            Filter::Exists(n) => Compiled::Exists(key(n)),
            Filter::Missing(n) => Compiled::Not(Box::new(Compiled::Exists(key(n)))),
            Filter::And(fs) if fs.is_empty() => Compiled::Const(true),
            Filter::Or(fs) if fs.is_empty() => Compiled::Const(false),
            Filter::And(fs) => Compiled::And(children(fs)?),
            Filter::Or(fs) => Compiled::Or(children(fs)?),
            Filter::Not(f) => Compiled::Not(Box::new(Compiled::build(f, keys, depth + 1)?)),
        })
    }

    /// Whether a record with compact attributes `attrs` matches.
    pub(crate) fn matches(&self, attrs: &[(u32, nidus_format::Value)]) -> bool {
        let get = |k: &Option<u32>| k.and_then(|k| lookup(attrs, k));
        match self {
            Compiled::Const(b) => *b,
            Compiled::Eq(k, want) => get(k).is_some_and(|v| value_eq(v, want)),
            Compiled::In(k, wants) => get(k).is_some_and(|v| wants.iter().any(|w| value_eq(v, w))),
            Compiled::Cmp(k, op, bound) => {
                let Some(ord) = get(k).and_then(as_num).and_then(|v| cmp_num(v, *bound)) else {
                    return false;
                };
                match op {
                    CmpOp::Lt => ord == Ordering::Less,
                    CmpOp::Le => ord != Ordering::Greater,
                    CmpOp::Gt => ord == Ordering::Greater,
                    CmpOp::Ge => ord != Ordering::Less,
                }
            }
            Compiled::Glob(k, g) => match get(k) {
                Some(Value::Str(s)) => g.matches(s),
                Some(Value::List(l)) => l.iter().any(|s| g.matches(s)),
                _ => false,
            },
            Compiled::Exists(k) => get(k).is_some(),
            Compiled::And(cs) => cs.iter().all(|c| c.matches(attrs)),
            Compiled::Or(cs) => cs.iter().any(|c| c.matches(attrs)),
            Compiled::Not(c) => !c.matches(attrs),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nidus_format::Attributes;

    fn rec(pairs: &[(&str, Value)]) -> Attributes {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect()
    }

    #[test]
    fn filter_table() {
        let full = rec(&[
            ("path", Value::from("src/store/a.rs")),
            ("year", Value::Int(2024)),
            ("score", Value::Float(0.5)),
            ("draft", Value::Bool(false)),
            ("owner", Value::Null),
            ("tags", Value::from(&["rust", "db"][..])),
            ("big", Value::Int(i64::MAX)),
        ]);
        let empty = Attributes::new();
        let nan = rec(&[("score", Value::Float(f64::NAN))]);
        type Case = (&'static str, Filter, bool, bool);
        // (name, filter, on `full`, on `empty`)
        let cases: Vec<Case> = vec![
            ("eq str", Filter::eq("path", "src/store/a.rs"), true, false),
            (
                "eq str differs",
                Filter::eq("path", "src/a.rs"),
                false,
                false,
            ),
            ("eq int", Filter::eq("year", 2024), true, false),
            ("eq int vs float", Filter::eq("year", 2024.0), true, false),
            ("eq float vs int", Filter::eq("score", 0.5), true, false),
            ("eq bool", Filter::eq("draft", false), true, false),
            ("eq bool vs int", Filter::eq("draft", 0), false, false),
            ("eq null", Filter::eq("owner", Value::Null), true, false),
            (
                "eq null on non-null",
                Filter::eq("year", Value::Null),
                false,
                false,
            ),
            ("eq str vs int", Filter::eq("year", "2024"), false, false),
            ("eq list contains", Filter::eq("tags", "db"), true, false),
            (
                "eq list missing elem",
                Filter::eq("tags", "c"),
                false,
                false,
            ),
            (
                "eq whole list",
                Filter::eq("tags", &["rust", "db"][..]),
                true,
                false,
            ),
            ("ne", Filter::ne("year", 2023), true, true),
            ("ne equal", Filter::ne("year", 2024), false, true),
            ("ne null", Filter::ne("owner", Value::Null), false, true),
            ("in", Filter::is_in("year", [2023, 2024]), true, false),
            ("in none", Filter::is_in("year", [1, 2]), false, false),
            (
                "in empty",
                Filter::is_in("year", Vec::<i64>::new()),
                false,
                false,
            ),
            ("nin", Filter::not_in("year", [1, 2]), true, true),
            ("nin hit", Filter::not_in("year", [2024]), false, true),
            ("lt", Filter::lt("year", 2025), true, false),
            ("lt equal", Filter::lt("year", 2024), false, false),
            ("le equal", Filter::le("year", 2024), true, false),
            ("gt", Filter::gt("year", 2023.5), true, false),
            ("gt equal", Filter::gt("year", 2024.0), false, false),
            ("ge float", Filter::ge("score", 0.5), true, false),
            (
                "ge int bound on float",
                Filter::ge("score", 1),
                false,
                false,
            ),
            ("lt on string attr", Filter::lt("path", 5), false, false),
            ("lt on null attr", Filter::lt("owner", 5), false, false),
            // i64::MAX as f64 rounds up to 2^63: the int is still smaller.
            (
                "exact int/float",
                Filter::lt("big", 9_223_372_036_854_775_808.0_f64),
                true,
                false,
            ),
            (
                "exact int/float eq",
                Filter::eq("big", 9_223_372_036_854_775_808.0_f64),
                false,
                false,
            ),
            // `*` stays within a path segment (issue 18); `**` crosses.
            ("glob", Filter::glob("path", "src/*/*.rs"), true, false),
            ("glob star", Filter::glob("path", "src/*.rs"), false, false),
            (
                "glob globstar",
                Filter::glob("path", "src/**.rs"),
                true,
                false,
            ),
            ("glob anchored", Filter::glob("path", "store"), false, false),
            (
                "glob class",
                Filter::glob("path", "src/[rs]tore/?.rs"),
                true,
                false,
            ),
            ("glob on list", Filter::glob("tags", "r*"), true, false),
            ("glob on int", Filter::glob("year", "*"), false, false),
            ("exists", Filter::exists("year"), true, false),
            ("exists null", Filter::exists("owner"), true, false),
            ("exists unknown name", Filter::exists("nope"), false, false),
            ("missing", Filter::missing("owner"), false, true),
            ("missing unknown", Filter::missing("nope"), true, true),
            (
                "and",
                Filter::eq("year", 2024).and(Filter::glob("path", "**.rs")),
                true,
                false,
            ),
            (
                "and false",
                Filter::eq("year", 2024).and(Filter::eq("draft", true)),
                false,
                false,
            ),
            (
                "or",
                Filter::eq("year", 1).or(Filter::missing("year")),
                false,
                true,
            ),
            ("not", !Filter::exists("year"), false, true),
            ("and empty", Filter::all([]), true, true),
            ("or empty", Filter::any([]), false, false),
        ];
        for (name, filter, on_full, on_empty) in cases {
            assert_eq!(filter.matches(&full).unwrap(), on_full, "{name} on full");
            assert_eq!(filter.matches(&empty).unwrap(), on_empty, "{name} on empty");
        }
        // NaN attributes are never equal, greater or smaller.
        for f in [
            Filter::eq("score", f64::NAN),
            Filter::lt("score", 1.0),
            Filter::ge("score", 0),
        ] {
            assert!(!f.matches(&nan).unwrap(), "{f:?}");
        }
        assert!(Filter::exists("score").matches(&nan).unwrap());
    }

    #[test]
    fn integers_of_every_type_filter_as_the_integer_would() {
        let two64 = 18_446_744_073_709_551_616.0_f64;
        let below_two64 = two64.next_down();
        let values = [
            Value::Int(i64::MAX),
            Value::Int(i64::MIN),
            Value::Float(9_223_372_036_854_775_808.0),
            Value::Float(below_two64),
            Value::Float(two64),
            Value::Float(-two64),
        ];
        // The truth, computed exactly in i128/f64 arithmetic for the bound
        // u64::MAX (2^64 - 1, which no f64 holds) and i64::MIN - 1.
        let exact = |v: &Value, bound: i128| -> std::cmp::Ordering {
            match *v {
                Value::Int(i) => i128::from(i).cmp(&bound),
                // Every float here is an integer within i128.
                Value::Float(f) => (f as i128).cmp(&bound),
                _ => unreachable!(),
            }
        };
        use std::cmp::Ordering::{Equal, Greater, Less};
        for v in &values {
            let attrs: nidus_format::Attributes = [("n".to_owned(), v.clone())].into();
            for (bound, filters) in [
                (
                    i128::from(u64::MAX),
                    [
                        Filter::eq("n", u64::MAX),
                        Filter::ne("n", u64::MAX),
                        Filter::lt("n", u64::MAX),
                        Filter::le("n", u64::MAX),
                        Filter::gt("n", u64::MAX),
                        Filter::ge("n", u64::MAX),
                    ],
                ),
                (
                    i128::from(i64::MIN) - 1,
                    [
                        Filter::eq("n", i128::from(i64::MIN) - 1),
                        Filter::ne("n", i128::from(i64::MIN) - 1),
                        Filter::lt("n", i128::from(i64::MIN) - 1),
                        Filter::le("n", i128::from(i64::MIN) - 1),
                        Filter::gt("n", i128::from(i64::MIN) - 1),
                        Filter::ge("n", i128::from(i64::MIN) - 1),
                    ],
                ),
            ] {
                let ord = exact(v, bound);
                let want = [
                    ord == Equal,
                    ord != Equal,
                    ord == Less,
                    ord != Greater,
                    ord == Greater,
                    ord != Less,
                ];
                for (f, want) in filters.iter().zip(want) {
                    assert_eq!(f.matches(&attrs).unwrap(), want, "{f:?} on {v:?}");
                }
            }
        }
        // In range, any integer type is an Int.
        assert_eq!(
            Filter::ge("n", 2020usize),
            Filter::Ge("n".into(), Value::Int(2020))
        );
        assert_eq!(
            Filter::is_in("n", [1u64, 2]),
            Filter::In("n".into(), vec![Value::Int(1), Value::Int(2)])
        );
    }

    #[test]
    fn invalid_filters_are_errors() {
        let deep = (0..MAX_FILTER_DEPTH + 1).fold(Filter::exists("a"), |f, _| !f);
        let bad = [
            Filter::lt("year", "2024"),
            Filter::gt("year", f64::NAN),
            Filter::ge("year", Value::Null),
            Filter::glob("path", "[abc"),
            Filter::all([Filter::exists("x"), Filter::glob("p", "\\")]),
            deep,
        ];
        for f in bad {
            let e = f.matches(&Attributes::new()).unwrap_err();
            assert_eq!(e.kind(), crate::ErrorKind::InvalidInput, "{f:?}");
        }
    }

    #[test]
    fn int_float_comparison_is_exact() {
        let cases = [
            (i64::MAX, 9_223_372_036_854_775_808.0_f64, Ordering::Less),
            (i64::MIN, -9_223_372_036_854_775_808.0_f64, Ordering::Equal),
            (9007199254740993, 9007199254740992.0, Ordering::Greater),
            (3, 3.5, Ordering::Less),
            (-3, -3.5, Ordering::Greater),
            (0, -0.0, Ordering::Equal),
            (5, f64::INFINITY, Ordering::Less),
            (5, f64::NEG_INFINITY, Ordering::Greater),
        ];
        for (i, f, want) in cases {
            assert_eq!(cmp_int_float(i, f), Some(want), "{i} vs {f}");
            assert_eq!(
                cmp_num(Num::Float(f), Num::Int(i)),
                Some(want.reverse()),
                "{f} vs {i}"
            );
        }
        assert_eq!(cmp_int_float(1, f64::NAN), None);
    }
}
