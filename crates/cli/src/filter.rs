//! The `--filter` where-clause, in the JSON style Chroma and MongoDB users
//! know, parsed into an intermediate form ([`Where`]) that converts to the
//! store's filter.
//!
//! ```text
//! {"source": "man"}                         equality (shorthand for $eq)
//! {"year": {"$gte": 2020, "$lt": 2025}}     several operators: all must hold
//! {"a": 1, "b": 2}                          several fields: all must hold
//! {"$and": [...]}, {"$or": [...]}, {"$not": {...}}
//! ```
//! Operators: `$eq $ne $gt $gte $lt $lte $in $nin $exists $glob`.

use nidus_format::Value;

use crate::json::{self, Json};
use crate::values;

/// A parsed where-clause.
#[derive(Debug, Clone, PartialEq)]
pub enum Where {
    /// Every clause holds (`$and`, or several keys in one object).
    And(Vec<Where>),
    /// At least one clause holds (`$or`).
    Or(Vec<Where>),
    /// The clause does not hold (`$not`).
    Not(Box<Where>),
    /// A condition on one attribute.
    Field {
        /// The attribute's name.
        name: String,
        /// What must hold for it.
        cond: Cond,
    },
}

/// A condition on one attribute's value.
#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    /// Equal to the value (`null` matches a present null, never an absent
    /// attribute).
    Eq(Value),
    /// Not equal to the value.
    Ne(Value),
    /// Greater than a number.
    Gt(Value),
    /// Greater than or equal to a number.
    Gte(Value),
    /// Less than a number.
    Lt(Value),
    /// Less than or equal to a number.
    Lte(Value),
    /// Equal to one of the values.
    In(Vec<Value>),
    /// Equal to none of the values.
    Nin(Vec<Value>),
    /// Present (`true`) or absent (`false`).
    Exists(bool),
    /// A string matching a glob (anchored at both ends; `*` within a
    /// `/`-separated segment, `**` across segments, `?`, `[...]`).
    Glob(String),
}

const OPERATORS: &str = "$eq, $ne, $gt, $gte, $lt, $lte, $in, $nin, $exists, $glob";
const COMBINATORS: &str = "$and, $or, $not";

/// Parses a where-clause from JSON text; errors name the position (for
/// syntax) or the field and operator at fault.
pub fn parse(text: &str) -> Result<Where, String> {
    let json = json::parse(text).map_err(|e| e.to_string())?;
    from_json(&json)
}

/// Converts a where-clause already parsed as JSON.
pub fn from_json(json: &Json) -> Result<Where, String> {
    let Json::Object(entries) = json else {
        return Err(format!(
            "a filter must be a JSON object, found {}",
            json.kind()
        ));
    };
    if entries.is_empty() {
        return Err("a filter must hold at least one condition, found {}".to_owned());
    }
    let mut clauses = Vec::with_capacity(entries.len());
    for (key, value) in entries {
        clauses.push(match key.as_str() {
            "$and" | "$or" => {
                let Json::Array(items) = value else {
                    return Err(format!(
                        "{key} takes an array of filters, found {}",
                        value.kind()
                    ));
                };
                if items.is_empty() {
                    return Err(format!("{key} takes a non-empty array of filters"));
                }
                let parts = items.iter().map(from_json).collect::<Result<Vec<_>, _>>()?;
                if key == "$and" {
                    Where::And(parts)
                } else {
                    Where::Or(parts)
                }
            }
            "$not" => Where::Not(Box::new(from_json(value)?)),
            k if k.starts_with('$') => {
                return Err(format!(
                    "unknown combinator '{k}'; valid at the top of a filter: {COMBINATORS} \
                     (operators such as $gte go inside a field: {{\"year\": {{\"$gte\": 2020}}}})"
                ));
            }
            name => field(name, value)?,
        });
    }
    Ok(if clauses.len() == 1 {
        clauses.pop().unwrap_or(Where::And(Vec::new()))
    } else {
        Where::And(clauses)
    })
}

/// The conditions on one field: a bare value means `$eq`; an object whose
/// keys are all operators means each of them.
fn field(name: &str, value: &Json) -> Result<Where, String> {
    let operators = match value {
        Json::Object(entries) if entries.iter().any(|(k, _)| k.starts_with('$')) => entries,
        Json::Object(_) => {
            return Err(format!(
                "\"{name}\": an attribute cannot be an object; use operators ({OPERATORS})"
            ));
        }
        other => {
            return Ok(Where::Field {
                name: name.to_owned(),
                cond: Cond::Eq(scalar(name, "$eq", other)?),
            });
        }
    };
    let mut conds = Vec::with_capacity(operators.len());
    for (op, arg) in operators {
        let cond = match op.as_str() {
            "$eq" => Cond::Eq(scalar(name, op, arg)?),
            "$ne" => Cond::Ne(scalar(name, op, arg)?),
            "$gt" => Cond::Gt(number(name, op, arg)?),
            "$gte" => Cond::Gte(number(name, op, arg)?),
            "$lt" => Cond::Lt(number(name, op, arg)?),
            "$lte" => Cond::Lte(number(name, op, arg)?),
            "$in" | "$nin" => {
                let Json::Array(items) = arg else {
                    return Err(format!(
                        "\"{name}\": {op} takes an array, found {}",
                        arg.kind()
                    ));
                };
                let list = items
                    .iter()
                    .map(|item| scalar(name, op, item))
                    .collect::<Result<Vec<_>, _>>()?;
                if op == "$in" {
                    Cond::In(list)
                } else {
                    Cond::Nin(list)
                }
            }
            "$exists" => match arg {
                Json::Bool(b) => Cond::Exists(*b),
                other => {
                    return Err(format!(
                        "\"{name}\": $exists takes true or false, found {}",
                        other.kind()
                    ));
                }
            },
            "$glob" => match arg {
                Json::Str(pattern) => Cond::Glob(pattern.clone()),
                other => {
                    return Err(format!(
                        "\"{name}\": $glob takes a string pattern, found {}",
                        other.kind()
                    ));
                }
            },
            other => {
                return Err(format!(
                    "\"{name}\": unknown operator '{other}'; valid operators: {OPERATORS}"
                ));
            }
        };
        conds.push(Where::Field {
            name: name.to_owned(),
            cond,
        });
    }
    Ok(if conds.len() == 1 {
        conds.pop().unwrap_or(Where::And(Vec::new()))
    } else {
        Where::And(conds)
    })
}

/// An operand that is an attribute value (any type but an object).
fn scalar(name: &str, op: &str, arg: &Json) -> Result<Value, String> {
    values::from_json(arg).map_err(|m| format!("\"{name}\": {op}: {m}"))
}

/// An operand that must be a number.
fn number(name: &str, op: &str, arg: &Json) -> Result<Value, String> {
    match arg {
        Json::Number(_) => scalar(name, op, arg),
        other => Err(format!(
            "\"{name}\": {op} compares numbers, found {}",
            other.kind()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(name: &str, cond: Cond) -> Where {
        Where::Field {
            name: name.into(),
            cond,
        }
    }

    #[test]
    fn shorthand_equality_and_operators() {
        assert_eq!(
            parse(r#"{"source": "man"}"#).unwrap(),
            field("source", Cond::Eq(Value::Str("man".into())))
        );
        assert_eq!(
            parse(r#"{"year": {"$gte": 2020}}"#).unwrap(),
            field("year", Cond::Gte(Value::Int(2020)))
        );
        assert_eq!(
            parse(r#"{"year": {"$gt": 1.5, "$lte": 3}, "ok": true}"#).unwrap(),
            Where::And(vec![
                Where::And(vec![
                    field("year", Cond::Gt(Value::Float(1.5))),
                    field("year", Cond::Lte(Value::Int(3))),
                ]),
                field("ok", Cond::Eq(Value::Bool(true))),
            ])
        );
        assert_eq!(
            parse(r#"{"n": null}"#).unwrap(),
            field("n", Cond::Eq(Value::Null))
        );
    }

    #[test]
    fn every_operator() {
        let cases = [
            (r#"{"a": {"$eq": "x"}}"#, Cond::Eq(Value::Str("x".into()))),
            (r#"{"a": {"$ne": 1}}"#, Cond::Ne(Value::Int(1))),
            (r#"{"a": {"$lt": -2}}"#, Cond::Lt(Value::Int(-2))),
            (
                r#"{"a": {"$in": ["x", 2]}}"#,
                Cond::In(vec![Value::Str("x".into()), Value::Int(2)]),
            ),
            (r#"{"a": {"$nin": []}}"#, Cond::Nin(vec![])),
            (r#"{"a": {"$exists": false}}"#, Cond::Exists(false)),
            (
                r#"{"a": {"$glob": "src/*.rs"}}"#,
                Cond::Glob("src/*.rs".into()),
            ),
            (
                r#"{"a": {"$eq": ["t1", "t2"]}}"#,
                Cond::Eq(Value::List(vec!["t1".into(), "t2".into()])),
            ),
        ];
        for (text, cond) in cases {
            assert_eq!(parse(text).unwrap(), field("a", cond), "{text}");
        }
    }

    #[test]
    fn combinators_nest() {
        let w = parse(
            r#"{"$or": [{"a": 1}, {"$not": {"b": {"$exists": true}}}, {"$and": [{"c": "x"}]}]}"#,
        )
        .unwrap();
        assert_eq!(
            w,
            Where::Or(vec![
                field("a", Cond::Eq(Value::Int(1))),
                Where::Not(Box::new(field("b", Cond::Exists(true)))),
                Where::And(vec![field("c", Cond::Eq(Value::Str("x".into())))]),
            ])
        );
    }

    #[test]
    fn mistakes_are_explained() {
        let cases = [
            ("[1]", "must be a JSON object"),
            ("{}", "at least one condition"),
            (
                r#"{"a": {"$gte": "2020"}}"#,
                "\"a\": $gte compares numbers, found a string",
            ),
            (r#"{"a": {"$in": "x"}}"#, "$in takes an array"),
            (r#"{"a": {"$exists": 1}}"#, "$exists takes true or false"),
            (r#"{"a": {"$glob": 1}}"#, "$glob takes a string"),
            (
                r#"{"a": {"$regex": "x"}}"#,
                "unknown operator '$regex'; valid operators: $eq",
            ),
            (r#"{"$gte": 1}"#, "unknown combinator '$gte'"),
            (r#"{"$and": {}}"#, "$and takes an array"),
            (r#"{"$or": []}"#, "non-empty array"),
            (r#"{"a": {"b": 1}}"#, "cannot be an object"),
            (
                r#"{"a": {"$in": [{}]}}"#,
                "\"a\": $in: an attribute cannot be an object",
            ),
            (r#"{"a": 1,}"#, "line 1, column 9"),
        ];
        for (text, expected) in cases {
            let e = parse(text).unwrap_err();
            assert!(e.contains(expected), "{text}: {e}");
        }
    }
}
