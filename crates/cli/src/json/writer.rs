//! The writer: strings with their escapes, floats in their shortest
//! round-trip form, and whole trees as compact JSON.

use std::fmt::Write as _;

use super::Json;

/// Appends `s` as a JSON string literal (quotes and escapes included).
pub fn write_str(out: &mut String, s: &str) {
    out.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let escape = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if escape.is_empty() {
            let _ = write!(out, "\\u{b:04x}");
        } else {
            out.push_str(escape);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// Appends an `f32` in its shortest form that reads back to the same bits
/// (as `f32`); `null` for NaN and infinities, which JSON cannot express.
pub fn write_f32(out: &mut String, v: f32) {
    if !v.is_finite() {
        out.push_str("null");
    } else if v != 0.0 && !(1e-5..1e16).contains(&v.abs()) {
        // Rust's float formatting is shortest-round-trip in both notations;
        // the exponent form keeps tiny and huge values short.
        let _ = write!(out, "{v:e}");
    } else {
        let _ = write!(out, "{v}");
    }
}

/// Appends an `f64` in its shortest round-trip form, always with a `.` or an
/// exponent so that it reads back as a float, not an integer; `null` for NaN
/// and infinities.
pub fn write_f64(out: &mut String, v: f64) {
    if !v.is_finite() {
        out.push_str("null");
        return;
    }
    let start = out.len();
    if v != 0.0 && !(1e-5..1e16).contains(&v.abs()) {
        let _ = write!(out, "{v:e}");
    } else {
        let _ = write!(out, "{v}");
    }
    if !out[start..].contains(['.', 'e']) {
        out.push_str(".0");
    }
}

/// Appends a tree as compact JSON.
pub fn write_json(out: &mut String, value: &Json) {
    match value {
        Json::Null => out.push_str("null"),
        Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Json::Number(n) => out.push_str(n.as_str()),
        Json::Str(s) => write_str(out, s),
        Json::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(out, item);
            }
            out.push(']');
        }
        Json::Object(entries) => {
            out.push('{');
            for (i, (k, v)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_str(out, k);
                out.push(':');
                write_json(out, v);
            }
            out.push('}');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse;
    use super::*;

    #[test]
    fn f64_writes_as_float() {
        for v in [2.0f64, -0.0, 1e300, 1e-300, 0.1, 123456.789] {
            let mut out = String::new();
            write_f64(&mut out, v);
            assert!(out.contains(['.', 'e']), "{out}");
            let Json::Number(n) = parse(&out).unwrap() else {
                panic!()
            };
            assert!(!n.is_integer());
            assert_eq!(n.as_f64().unwrap().to_bits(), v.to_bits());
        }
        let mut out = String::new();
        write_f64(&mut out, f64::NAN);
        write_f32(&mut out, f32::INFINITY);
        assert_eq!(out, "nullnull");
    }

    #[test]
    fn writer_escapes() {
        let mut out = String::new();
        write_str(&mut out, "q\"b\\n\n\u{1}é\u{7f}");
        assert_eq!(out, "\"q\\\"b\\\\n\\n\\u0001é\u{7f}\"");
        assert_eq!(
            parse(&out).unwrap(),
            Json::Str("q\"b\\n\n\u{1}é\u{7f}".into())
        );
    }
}
