//! Attribute values in JSON: the mapping between [`Json`] and the store's
//! typed [`Value`], in both directions.
//!
//! An integer literal that fits `i64` becomes `Int`; any other number becomes
//! `Float`. The writer always prints a float with a `.` or an exponent, so an
//! exported `Float(2.0)` reads back as a float, not as `Int(2)`.

use nidus_format::{Attributes, Value};

use crate::json::{self, Json, JsonError, Parser};

/// Converts one JSON value to an attribute value. Objects, and arrays
/// holding anything but strings, have no attribute type and are refused.
pub fn from_json(value: &Json) -> Result<Value, String> {
    Ok(match value {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(*b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Float(
                n.as_f64()
                    .ok_or_else(|| format!("{} is out of range for a 64-bit float", n.as_str()))?,
            ),
        },
        Json::Str(s) => Value::Str(s.clone()),
        Json::Array(items) => Value::List(
            items
                .iter()
                .map(|item| match item {
                    Json::Str(s) => Ok(s.clone()),
                    other => Err(format!(
                        "a list attribute holds strings only, found {}",
                        other.kind()
                    )),
                })
                .collect::<Result<_, _>>()?,
        ),
        Json::Object(_) => return Err("an attribute cannot be an object".to_owned()),
    })
}

/// Reads a JSON object of attributes at the parser's position. Duplicate
/// names and values without an attribute type are errors at their position.
pub fn parse_attrs(p: &mut Parser<'_>) -> Result<Attributes, JsonError> {
    let mut attrs = Attributes::new();
    if p.peek() != Some(b'{') {
        let at = p.offset();
        let found = p.value()?;
        return Err(p.error_at(
            at,
            format!("\"attrs\" must be an object, found {}", found.kind()),
        ));
    }
    p.object(|key, p| {
        p.peek();
        let at = p.offset();
        let json = p.value()?;
        let value =
            from_json(&json).map_err(|m| p.error_at(at, format!("attribute \"{key}\": {m}")))?;
        if attrs.insert(key.clone().into_owned(), value).is_some() {
            return Err(p.error_at(at, format!("duplicate attribute \"{key}\"")));
        }
        Ok(())
    })?;
    Ok(attrs)
}

/// Appends an attribute value as JSON. A non-finite float, which JSON cannot
/// express, is written as `null`.
pub fn write_value(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => out.push_str(&i.to_string()),
        Value::Float(f) => json::write_f64(out, *f),
        Value::Str(s) => json::write_str(out, s),
        Value::List(items) => {
            out.push('[');
            for (i, s) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json::write_str(out, s);
            }
            out.push(']');
        }
    }
}

/// Appends attributes as a JSON object (names in sorted order).
pub fn write_attrs(out: &mut String, attrs: &Attributes) {
    out.push('{');
    for (i, (name, value)) in attrs.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        json::write_str(out, name);
        out.push(':');
        write_value(out, value);
    }
    out.push('}');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(text: &str) -> Result<Attributes, JsonError> {
        parse_attrs(&mut Parser::new(text))
    }

    #[test]
    fn every_type_round_trips() {
        let a = attrs(
            r#"{"n": null, "b": true, "i": -42, "big": 9223372036854775807, "f": 2.0,
                "e": 1e3, "s": "x\"y", "l": ["a", "b"], "empty": []}"#,
        )
        .unwrap();
        assert_eq!(a["n"], Value::Null);
        assert_eq!(a["b"], Value::Bool(true));
        assert_eq!(a["i"], Value::Int(-42));
        assert_eq!(a["big"], Value::Int(i64::MAX));
        assert_eq!(a["f"], Value::Float(2.0));
        assert_eq!(a["e"], Value::Float(1000.0));
        assert_eq!(a["s"], Value::Str("x\"y".into()));
        assert_eq!(a["l"], Value::List(vec!["a".into(), "b".into()]));
        assert_eq!(a["empty"], Value::List(vec![]));
        let mut out = String::new();
        write_attrs(&mut out, &a);
        assert_eq!(attrs(&out).unwrap(), a, "{out}");
    }

    #[test]
    fn integer_beyond_i64_becomes_float() {
        let a = attrs(r#"{"x": 9223372036854775808}"#).unwrap();
        assert_eq!(a["x"], Value::Float(9223372036854775808.0));
    }

    #[test]
    fn refusals_name_the_attribute() {
        let e = attrs(r#"{"x": {"y": 1}}"#).unwrap_err();
        assert!(
            e.message.contains("\"x\"") && e.message.contains("object"),
            "{e}"
        );
        assert_eq!(e.column, 7, "points at the value");
        let e = attrs(r#"{"x": [1, 2]}"#).unwrap_err();
        assert!(e.message.contains("strings only"), "{e}");
        let e = attrs(r#"{"x": 1, "x": 2}"#).unwrap_err();
        assert!(e.message.contains("duplicate attribute \"x\""), "{e}");
        let e = attrs(r#"{"x": 1e999}"#).unwrap_err();
        assert!(e.message.contains("out of range"), "{e}");
        let e = attrs(r#"[1]"#).unwrap_err();
        assert!(e.message.contains("must be an object"), "{e}");
    }

    #[test]
    fn non_finite_floats_write_null() {
        let mut out = String::new();
        write_value(&mut out, &Value::Float(f64::NAN));
        assert_eq!(out, "null");
    }
}
