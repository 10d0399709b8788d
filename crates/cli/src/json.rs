//! A strict JSON reader (RFC 8259) and writer.
//!
//! The reader is complete: escapes, `\u` surrogate pairs, exponents, and a
//! bounded nesting depth; every error carries a line and a column, and no
//! input makes it panic. Numbers are kept as their literal text, so that a
//! number converts to `f32` with one correct rounding (parsing through `f64`
//! first would round twice and could miss the written `f32` by one ulp).
//!
//! Besides building a [`Json`] tree, the [`Parser`] offers the pieces the
//! JSONL import needs to run fast: walking an object key by key and reading
//! an array of numbers straight into a `Vec<f32>`, with no allocation per
//! number.
//!
//! The writer prints `f32` and `f64` in their shortest round-trip form, so
//! written vectors read back bit-exactly.

use std::borrow::Cow;
use std::fmt::{self, Write as _};

/// The deepest nesting of arrays and objects the reader accepts; deeper
/// input is an error rather than a stack overflow.
pub const MAX_DEPTH: usize = 128;

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

/// A syntax error with its 1-based line and column (in characters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError {
    /// 1-based line of the error.
    pub line: usize,
    /// 1-based column (characters, not bytes) of the error.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}, column {}: {}",
            self.line, self.column, self.message
        )
    }
}

impl std::error::Error for JsonError {}

/// Parses one complete JSON document (surrounding whitespace allowed).
pub fn parse(text: &str) -> Result<Json, JsonError> {
    let mut p = Parser::new(text);
    let value = p.value()?;
    p.finish()?;
    Ok(value)
}

/// A cursor over JSON text. Methods consume exactly one syntactic element
/// and leave the cursor after it (and after any whitespace).
#[derive(Debug)]
pub struct Parser<'a> {
    text: &'a str,
    pos: usize,
    depth: usize,
}

impl<'a> Parser<'a> {
    /// A parser at the start of `text`.
    pub fn new(text: &'a str) -> Self {
        Parser {
            text,
            pos: 0,
            depth: 0,
        }
    }

    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    /// An error at the current position.
    pub fn error(&self, message: impl Into<String>) -> JsonError {
        self.error_at(self.pos, message)
    }

    /// The byte offset of the cursor (after skipping nothing).
    pub fn offset(&self) -> usize {
        self.pos
    }

    /// An error at byte offset `pos` of the text.
    pub fn error_at(&self, pos: usize, message: impl Into<String>) -> JsonError {
        let pos = pos.min(self.text.len());
        let before = &self.bytes()[..pos];
        let line_start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
        // Count characters, not bytes: continuation bytes are 0b10xxxxxx.
        let column = 1 + before[line_start..]
            .iter()
            .filter(|&&b| (b & 0xC0) != 0x80)
            .count();
        JsonError {
            line,
            column,
            message: message.into(),
        }
    }

    fn skip_ws(&mut self) {
        let bytes = self.bytes();
        while let Some(&b) = bytes.get(self.pos) {
            if matches!(b, b' ' | b'\t' | b'\n' | b'\r') {
                self.pos += 1;
            } else {
                break;
            }
        }
    }

    /// The next non-whitespace byte, without consuming it.
    pub fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.bytes().get(self.pos).copied()
    }

    /// Checks that only whitespace remains.
    pub fn finish(&mut self) -> Result<(), JsonError> {
        match self.peek() {
            None => Ok(()),
            Some(_) => Err(self.error("unexpected text after the JSON value")),
        }
    }

    fn describe_next(&self) -> String {
        match self.text[self.pos..].chars().next() {
            None => "end of input".to_owned(),
            Some(c) if c.is_control() => format!("{c:?}"),
            Some(c) => format!("'{c}'"),
        }
    }

    fn expect(&mut self, byte: u8, what: &str) -> Result<(), JsonError> {
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.error(format!("expected {what}, found {}", self.describe_next())))
        }
    }

    fn enter(&mut self) -> Result<(), JsonError> {
        if self.depth >= MAX_DEPTH {
            return Err(self.error(format!("nesting deeper than {MAX_DEPTH} levels")));
        }
        self.depth += 1;
        Ok(())
    }

    /// Parses one value into a tree.
    pub fn value(&mut self) -> Result<Json, JsonError> {
        match self.peek() {
            Some(b'{') => {
                let mut entries: Vec<(String, Json)> = Vec::new();
                let start = self.pos;
                self.object(|key, p| {
                    let value = p.value()?;
                    entries.push((key.into_owned(), value));
                    Ok(())
                })?;
                // Duplicate keys make a document ambiguous: refuse them
                // (sorting keeps this O(n log n) on hostile input).
                let mut keys: Vec<&str> = entries.iter().map(|(k, _)| k.as_str()).collect();
                keys.sort_unstable();
                if let Some(w) = keys.windows(2).find(|w| w[0] == w[1]) {
                    return Err(self.error_at(start, format!("duplicate key \"{}\"", w[0])));
                }
                Ok(Json::Object(entries))
            }
            Some(b'[') => {
                let mut items = Vec::new();
                self.array(|p| {
                    items.push(p.value()?);
                    Ok(())
                })?;
                Ok(Json::Array(items))
            }
            Some(b'"') => Ok(Json::Str(self.string()?.into_owned())),
            Some(b'-' | b'0'..=b'9') => Ok(Json::Number(Number(self.number()?.to_owned()))),
            Some(_) => self.literal(),
            None => Err(self.error("expected a JSON value, found end of input")),
        }
    }

    fn literal(&mut self) -> Result<Json, JsonError> {
        let rest = &self.bytes()[self.pos..];
        for (word, value) in [
            (&b"null"[..], Json::Null),
            (b"true", Json::Bool(true)),
            (b"false", Json::Bool(false)),
        ] {
            if rest.starts_with(word) {
                self.pos += word.len();
                return Ok(value);
            }
        }
        let word: String = self.text[self.pos..]
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '-' || *c == '+')
            .take(20)
            .collect();
        if matches!(
            word.as_str(),
            "NaN" | "Infinity" | "-Infinity" | "nan" | "inf" | "-inf"
        ) {
            return Err(self.error(format!(
                "{word} is not a JSON number (JSON has no NaN or infinity)"
            )));
        }
        Err(self.error(format!(
            "expected a JSON value, found {}",
            self.describe_next()
        )))
    }

    /// Walks an object, calling `entry` with each key; `entry` must consume
    /// the value (with [`Parser::value`], [`Parser::skip_value`], ...).
    /// Duplicate keys are not checked here: callers that care track them.
    pub fn object(
        &mut self,
        mut entry: impl FnMut(Cow<'a, str>, &mut Self) -> Result<(), JsonError>,
    ) -> Result<(), JsonError> {
        self.expect(b'{', "'{'")?;
        self.enter()?;
        if self.peek() == Some(b'}') {
            self.pos += 1;
            self.depth -= 1;
            return Ok(());
        }
        loop {
            if self.peek() != Some(b'"') {
                return Err(self.error(format!(
                    "expected a string key, found {}",
                    self.describe_next()
                )));
            }
            let key = self.string()?;
            self.expect(b':', "':' after the key")?;
            entry(key, self)?;
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    self.depth -= 1;
                    return Ok(());
                }
                _ => {
                    return Err(self.error(format!(
                        "expected ',' or '}}' in the object, found {}",
                        self.describe_next()
                    )));
                }
            }
        }
    }

    /// Walks an array, calling `item` once per element; `item` must consume
    /// the element.
    pub fn array(
        &mut self,
        mut item: impl FnMut(&mut Self) -> Result<(), JsonError>,
    ) -> Result<(), JsonError> {
        self.expect(b'[', "'['")?;
        self.enter()?;
        if self.peek() == Some(b']') {
            self.pos += 1;
            self.depth -= 1;
            return Ok(());
        }
        loop {
            item(self)?;
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    self.depth -= 1;
                    return Ok(());
                }
                _ => {
                    return Err(self.error(format!(
                        "expected ',' or ']' in the array, found {}",
                        self.describe_next()
                    )));
                }
            }
        }
    }

    /// Reads an array of numbers, appending each as `f32` to `out`, with no
    /// allocation besides `out`'s growth. A number that overflows `f32`, or
    /// an element that is not a number, is an error at its position.
    pub fn f32_array(&mut self, out: &mut Vec<f32>) -> Result<(), JsonError> {
        self.array(|p| {
            p.skip_ws();
            let start = p.pos;
            if !matches!(p.bytes().get(p.pos), Some(b'-' | b'0'..=b'9')) {
                // Produce the precise message (NaN, a string, ...).
                let v = p.value()?;
                return Err(p.error_at(start, format!("expected a number, found {}", v.kind())));
            }
            let literal = p.number()?;
            match literal_to_f32(literal) {
                Some(v) => {
                    out.push(v);
                    Ok(())
                }
                None => Err(p.error_at(start, format!("{literal} is out of range for f32"))),
            }
        })
    }

    /// Skips one value, checking its syntax.
    pub fn skip_value(&mut self) -> Result<(), JsonError> {
        match self.peek() {
            Some(b'{') => self.object(|_, p| p.skip_value()),
            Some(b'[') => self.array(|p| p.skip_value()),
            Some(b'"') => self.string().map(drop),
            Some(b'-' | b'0'..=b'9') => self.number().map(drop),
            _ => self.literal().map(drop),
        }
    }

    /// Reads a number literal, checking the JSON grammar
    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
    pub fn number(&mut self) -> Result<&'a str, JsonError> {
        self.skip_ws();
        let bytes = self.bytes();
        let start = self.pos;
        let mut i = start;
        let digits = |i: &mut usize| {
            let s = *i;
            while bytes.get(*i).is_some_and(u8::is_ascii_digit) {
                *i += 1;
            }
            *i - s
        };
        if bytes.get(i) == Some(&b'-') {
            i += 1;
        }
        match bytes.get(i) {
            Some(b'0') => {
                i += 1;
                if bytes.get(i).is_some_and(u8::is_ascii_digit) {
                    return Err(self.error_at(start, "leading zeros are not allowed in numbers"));
                }
            }
            Some(b'1'..=b'9') => {
                digits(&mut i);
            }
            _ => return Err(self.error_at(i, "expected a digit")),
        }
        if bytes.get(i) == Some(&b'.') {
            i += 1;
            if digits(&mut i) == 0 {
                return Err(self.error_at(i, "expected a digit after the decimal point"));
            }
        }
        if matches!(bytes.get(i), Some(b'e' | b'E')) {
            i += 1;
            if matches!(bytes.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            if digits(&mut i) == 0 {
                return Err(self.error_at(i, "expected a digit in the exponent"));
            }
        }
        self.pos = i;
        Ok(&self.text[start..i])
    }

    /// Reads a string, borrowing it from the input when it has no escapes.
    pub fn string(&mut self) -> Result<Cow<'a, str>, JsonError> {
        self.expect(b'"', "'\"'")?;
        let bytes = self.bytes();
        let start = self.pos;
        let mut i = start;
        // Fast path: no escapes.
        loop {
            match bytes.get(i) {
                None => return Err(self.error_at(start - 1, "unterminated string")),
                Some(b'"') => {
                    self.pos = i + 1;
                    return Ok(Cow::Borrowed(&self.text[start..i]));
                }
                Some(b'\\') => break,
                Some(&b) if b < 0x20 => {
                    return Err(self.error_at(i, "control character in string (escape it)"));
                }
                Some(_) => i += 1,
            }
        }
        let mut out = String::with_capacity(i - start + 16);
        out.push_str(&self.text[start..i]);
        loop {
            match bytes.get(i) {
                None => return Err(self.error_at(start - 1, "unterminated string")),
                Some(b'"') => {
                    self.pos = i + 1;
                    return Ok(Cow::Owned(out));
                }
                Some(b'\\') => {
                    let escape_at = i;
                    i += 1;
                    let c = match bytes.get(i) {
                        Some(b'"') => '"',
                        Some(b'\\') => '\\',
                        Some(b'/') => '/',
                        Some(b'b') => '\u{8}',
                        Some(b'f') => '\u{c}',
                        Some(b'n') => '\n',
                        Some(b'r') => '\r',
                        Some(b't') => '\t',
                        Some(b'u') => {
                            let high = self.hex4(i + 1)?;
                            i += 4;
                            match high {
                                0xD800..=0xDBFF => {
                                    if bytes.get(i + 1) != Some(&b'\\')
                                        || bytes.get(i + 2) != Some(&b'u')
                                    {
                                        return Err(self.error_at(
                                            escape_at,
                                            "unpaired high surrogate in \\u escape",
                                        ));
                                    }
                                    let low = self.hex4(i + 3)?;
                                    if !(0xDC00..=0xDFFF).contains(&low) {
                                        return Err(self.error_at(
                                            escape_at,
                                            "high surrogate not followed by a low surrogate",
                                        ));
                                    }
                                    i += 6;
                                    let code = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00);
                                    char::from_u32(code).ok_or_else(|| {
                                        self.error_at(escape_at, "invalid surrogate pair")
                                    })?
                                }
                                0xDC00..=0xDFFF => {
                                    return Err(self.error_at(
                                        escape_at,
                                        "unpaired low surrogate in \\u escape",
                                    ));
                                }
                                code => char::from_u32(code).ok_or_else(|| {
                                    self.error_at(escape_at, "invalid \\u escape")
                                })?,
                            }
                        }
                        None => return Err(self.error_at(start - 1, "unterminated string")),
                        _ => return Err(self.error_at(escape_at, "invalid escape in string")),
                    };
                    out.push(c);
                    i += 1;
                }
                Some(&b) if b < 0x20 => {
                    return Err(self.error_at(i, "control character in string (escape it)"));
                }
                Some(_) => {
                    // Copy the run up to the next quote or backslash at once
                    // (both are ASCII, so the slice ends on a char boundary).
                    let run = bytes[i..]
                        .iter()
                        .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
                        .map_or(bytes.len(), |n| i + n);
                    out.push_str(&self.text[i..run]);
                    i = run;
                }
            }
        }
    }

    fn hex4(&self, at: usize) -> Result<u32, JsonError> {
        let digits = self
            .bytes()
            .get(at..at + 4)
            .ok_or_else(|| self.error_at(at, "truncated \\u escape"))?;
        let mut code = 0u32;
        for &d in digits {
            let v = (d as char)
                .to_digit(16)
                .ok_or_else(|| self.error_at(at, "\\u must be followed by 4 hex digits"))?;
            code = code * 16 + v;
        }
        Ok(code)
    }
}

/// The nearest `f32` to a grammar-checked JSON number literal (one correct
/// rounding, ties to even), or `None` if it overflows `f32`.
fn literal_to_f32(literal: &str) -> Option<f32> {
    match fast_f32(literal.as_bytes()) {
        Some(v) => Some(v),
        None => literal.parse::<f32>().ok().filter(|v| v.is_finite()),
    }
}

/// Powers of ten exactly representable in `f64`.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// The common case of [`literal_to_f32`] without the general algorithm:
/// at most 19 significant digits forming an integer `m <= 2^53`, and a
/// decimal exponent `e` with `|e| <= 22`. Then `m` and `10^|e|` are exact in
/// `f64` and one multiplication or division rounds correctly (Clinger's fast
/// path). Rounding that `f64` to `f32` is a second rounding, which can only
/// differ from rounding the exact value when the `f64` lands exactly halfway
/// between two `f32`s; that case returns `None` and takes the general path.
/// Also `None` for anything else it does not handle.
fn fast_f32(lit: &[u8]) -> Option<f32> {
    let (negative, mut rest) = match lit.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, lit),
    };
    let mut mantissa = 0u64;
    let mut digits = 0u32;
    let mut exp10 = 0i32;
    let mut take_digits = |rest: &mut &[u8], fraction: bool| {
        while let Some((&d, tail)) = rest.split_first() {
            if !d.is_ascii_digit() {
                break;
            }
            if mantissa != 0 || d != b'0' {
                digits += 1;
                mantissa = mantissa.wrapping_mul(10).wrapping_add(u64::from(d - b'0'));
            }
            if fraction {
                exp10 -= 1;
            }
            *rest = tail;
        }
    };
    take_digits(&mut rest, false);
    if let Some((b'.', tail)) = rest.split_first() {
        rest = tail;
        take_digits(&mut rest, true);
    }
    if digits > 19 {
        return None; // the mantissa may have wrapped
    }
    if let Some((b'e' | b'E', tail)) = rest.split_first() {
        let (sign, digits) = match tail.split_first() {
            Some((b'-', d)) => (-1, d),
            Some((b'+', d)) => (1, d),
            _ => (1, tail),
        };
        if digits.is_empty() || digits.len() > 4 || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let e = digits
            .iter()
            .fold(0i32, |acc, d| acc * 10 + i32::from(d - b'0'));
        exp10 += sign * e;
        rest = &[];
    }
    if !rest.is_empty() || mantissa > 1 << 53 {
        return None;
    }
    let m = mantissa as f64;
    let v = if mantissa == 0 {
        0.0
    } else if (0..=22).contains(&exp10) {
        m * POW10[exp10 as usize]
    } else if (-22..0).contains(&exp10) {
        m / POW10[(-exp10) as usize]
    } else {
        return None;
    };
    let f = v as f32;
    let back = f64::from(f);
    if back != v {
        // The f32 neighbour on v's other side: if v is exactly their
        // midpoint, the f64 rounding may have decided the tie: give up.
        let other = if back < v {
            f32::from_bits(f.to_bits() + 1)
        } else {
            f32::from_bits(f.to_bits() - 1)
        };
        if (back + f64::from(other)) * 0.5 == v {
            return None;
        }
    }
    // |v| <= 2^53 * 10^22 < f32::MAX and v >= 10^-22 when not zero: f is a
    // finite normal number (or zero).
    Some(if negative { -f } else { f })
}

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
    use super::*;

    fn err(text: &str) -> JsonError {
        parse(text).unwrap_err()
    }

    #[test]
    fn parses_every_kind() {
        let v = parse(r#" {"a": [1, -2.5e3, 0, true, false, null], "b": {"c": "d"}, "e": []} "#)
            .unwrap();
        let a = v.get("a").unwrap();
        let Json::Array(items) = a else { panic!() };
        assert_eq!(items.len(), 6);
        assert!(matches!(&items[1], Json::Number(n) if n.as_f64() == Some(-2500.0)));
        assert_eq!(items[3], Json::Bool(true));
        assert_eq!(items[5], Json::Null);
        assert_eq!(v.get("b").unwrap().get("c"), Some(&Json::Str("d".into())));
        assert_eq!(v.get("e"), Some(&Json::Array(vec![])));
        assert_eq!(
            v.to_string(),
            r#"{"a":[1,-2.5e3,0,true,false,null],"b":{"c":"d"},"e":[]}"#
        );
    }

    #[test]
    fn strings_escapes_and_surrogates() {
        let v = parse(r#""a\"b\\c\/d\b\f\n\r\t\u00e9\ud83d\ude00x""#).unwrap();
        assert_eq!(
            v,
            Json::Str("a\"b\\c/d\u{8}\u{c}\n\r\t\u{e9}\u{1F600}x".into())
        );
        assert!(err(r#""\ud83d""#).message.contains("unpaired high"));
        assert!(err(r#""\ud83dx""#).message.contains("unpaired high"));
        assert!(err(r#""\ud83d\u0041""#).message.contains("low surrogate"));
        assert!(err(r#""\ude00""#).message.contains("unpaired low"));
        assert!(err(r#""\u12""#).message.contains("\\u"));
        assert!(err(r#""\u12G4""#).message.contains("hex"));
        assert!(err(r#""\x""#).message.contains("invalid escape"));
        assert!(err("\"a\nb\"").message.contains("control character"));
        assert!(err("\"abc").message.contains("unterminated"));
        assert!(err("\"a\\").message.contains("unterminated"));
        // Non-ASCII passes through untouched.
        assert_eq!(parse("\"héllo ☃\"").unwrap(), Json::Str("héllo ☃".into()));
    }

    #[test]
    fn number_grammar() {
        for ok in [
            "0", "-0", "1", "-12", "0.5", "1e5", "1E+5", "1e-5", "-0.0e0", "123.456",
        ] {
            assert!(matches!(parse(ok), Ok(Json::Number(_))), "{ok}");
        }
        for bad in [
            "01", "-", "1.", ".5", "1e", "1e+", "+1", "--1", "0x10", "1.e3",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
        assert!(err("NaN").message.contains("no NaN"));
        assert!(err("[Infinity]").message.contains("no NaN or infinity"));
        let n = |s: &str| match parse(s).unwrap() {
            Json::Number(n) => n,
            _ => panic!(),
        };
        assert_eq!(n("12").as_i64(), Some(12));
        assert_eq!(n("12.0").as_i64(), None);
        assert_eq!(n("99999999999999999999").as_i64(), None);
        assert_eq!(n("1e400").as_f64(), None);
        assert_eq!(n("1e39").as_f32(), None);
        assert_eq!(n("1e38").as_f32(), Some(1e38));
    }

    #[test]
    fn f32_round_trips_bit_exactly() {
        // A seeded walk over many bit patterns, including subnormals.
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut out = String::new();
        for i in 0..20_000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let v = if i < 8 {
                [
                    0.0,
                    -0.0,
                    f32::MIN_POSITIVE,
                    f32::MAX,
                    f32::MIN,
                    1e-45,
                    0.1,
                    1.0,
                ][i as usize]
            } else {
                f32::from_bits(x as u32)
            };
            if !v.is_finite() {
                continue;
            }
            out.clear();
            write_f32(&mut out, v);
            let mut back = Vec::new();
            Parser::new(&format!("[{out}]"))
                .f32_array(&mut back)
                .unwrap_or_else(|e| panic!("{out}: {e}"));
            assert_eq!(back[0].to_bits(), v.to_bits(), "{v:?} printed as {out}");
        }
    }

    /// The fast path agrees with std's correctly rounded parser on random
    /// literals, and on exact f32 midpoints (where double rounding lurks).
    #[test]
    fn fast_f32_matches_std() {
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut fast_hits = 0;
        for i in 0..60_000u32 {
            let r = next();
            let text = match i % 3 {
                // Random digits, point and exponent.
                0 => {
                    let n = 1 + (r % 22) as usize;
                    let mut t: String = (0..n)
                        .map(|k| char::from(b'0' + ((next() >> (k % 8)) % 10) as u8))
                        .collect();
                    let t2 = t.trim_start_matches('0');
                    t = if t2.is_empty() { "0".into() } else { t2.into() };
                    if r & 1 == 1 && t.len() > 1 {
                        let at = 1 + (next() % (t.len() as u64 - 1)) as usize;
                        t.insert(at, '.');
                    }
                    if r & 2 == 2 {
                        t.push_str(&format!("e{}", (next() % 61) as i64 - 30));
                    }
                    if r & 4 == 4 {
                        t.insert(0, '-');
                    }
                    t
                }
                // The shortest form of a random f32 (what our writer prints).
                1 => {
                    let f = f32::from_bits(r as u32);
                    if !f.is_finite() {
                        continue;
                    }
                    let mut t = String::new();
                    write_f32(&mut t, f);
                    t
                }
                // The exact midpoint of two adjacent f32s, printed as the
                // f64 it is (shortest f64 round trip).
                _ => {
                    let f = f32::from_bits((r as u32) & 0x7F7F_FFFF);
                    let g = f32::from_bits(f.to_bits() + 1);
                    let mid = (f64::from(f) + f64::from(g)) * 0.5;
                    let mut t = String::new();
                    write_f64(&mut t, mid);
                    t
                }
            };
            let Ok(Json::Number(n)) = parse(&text) else {
                panic!("{text}")
            };
            let want = text.parse::<f32>().ok().filter(|v| v.is_finite());
            if let Some(fast) = fast_f32(text.as_bytes()) {
                fast_hits += 1;
                assert_eq!(Some(fast.to_bits()), want.map(f32::to_bits), "{text}");
            }
            assert_eq!(
                n.as_f32().map(f32::to_bits),
                want.map(f32::to_bits),
                "{text}"
            );
        }
        // The fast path takes most realistic literals.
        assert!(fast_hits > 20_000, "{fast_hits}");
    }

    #[test]
    fn fast_f32_edges() {
        for (text, want) in [
            ("0", Some(0.0f32)),
            ("-0", Some(-0.0)),
            ("-0.0e5", Some(-0.0)),
            ("1", Some(1.0)),
            ("0.1", Some(0.1)),
            ("-1.5e-3", Some(-1.5e-3)),
            ("9007199254740992", Some(9007199254740992.0)),
            ("9007199254740993", None),
            ("1e23", None),
            ("1e-23", None),
            ("12345678901234567890", None),
            ("0.00000000000000000000000001", None),
        ] {
            let got = fast_f32(text.as_bytes());
            assert_eq!(got.map(f32::to_bits), want.map(f32::to_bits), "{text}");
            if let Some(w) = want {
                assert!(w.is_sign_negative() == text.starts_with('-'));
            }
        }
        // 16777217 = 2^24 + 1 is an exact f32 midpoint: ties to even.
        assert_eq!(fast_f32(b"16777217"), None);
        assert_eq!(literal_to_f32("16777217"), Some(16777216.0));
    }

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
    fn f32_array_errors_point_at_the_element() {
        let mut v = Vec::new();
        let e = Parser::new("[1, 2, \"x\"]").f32_array(&mut v).unwrap_err();
        assert_eq!((e.line, e.column), (1, 8));
        assert!(e.message.contains("found a string"), "{e}");
        let e = Parser::new("[1, NaN]").f32_array(&mut v).unwrap_err();
        assert!(e.message.contains("NaN"), "{e}");
        let e = Parser::new("[1e39]").f32_array(&mut v).unwrap_err();
        assert!(e.message.contains("out of range for f32"), "{e}");
        let e = Parser::new("[1 2]").f32_array(&mut v).unwrap_err();
        assert!(e.message.contains("expected ',' or ']'"), "{e}");
    }

    #[test]
    fn errors_carry_line_and_column() {
        let e = err("{\n  \"a\": 1,\n  \"b\" 2\n}");
        assert_eq!((e.line, e.column), (3, 7), "{e}");
        assert!(e.to_string().starts_with("line 3, column 7: expected ':'"));
        let e = err("[\"é\", x]");
        assert_eq!((e.line, e.column), (1, 7), "{e}");
        let e = err("{\"a\": 1, \"a\": 2}");
        assert!(e.message.contains("duplicate key \"a\""), "{e}");
        assert!(err("[1] x").message.contains("after the JSON value"));
        assert!(err("").message.contains("end of input"));
        assert!(err("{1: 2}").message.contains("string key"));
        assert!(err("[1,]").message.contains("expected a JSON value"));
        assert!(err("{\"a\":1,}").message.contains("string key"));
    }

    #[test]
    fn depth_is_bounded() {
        let deep = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert!(parse(&deep).is_ok());
        let too_deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        assert!(err(&too_deep).message.contains("nesting deeper"));
        // Far deeper unclosed input fails fast without exhausting the stack.
        assert!(parse(&"[{\"a\":".repeat(100_000)).is_err());
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

    #[test]
    fn no_panic_on_arbitrary_input() {
        // Every prefix and every single-byte mutation of a rich document.
        let doc =
            r#"{"id":"a\u00e9\ud83d\ude00","v":[1.5e-3,-0,2E+2],"x":{"y":[true,false,null]}}"#;
        for cut in 0..=doc.len() {
            if let Some(prefix) = doc.get(..cut) {
                let _ = parse(prefix);
            }
        }
        let mut bytes = doc.as_bytes().to_vec();
        for i in 0..bytes.len() {
            for b in [
                b'"', b'\\', b'[', b'{', b'}', b'0', b'e', b'-', b'u', 0u8, b' ',
            ] {
                let old = bytes[i];
                bytes[i] = b;
                if let Ok(text) = std::str::from_utf8(&bytes) {
                    let _ = parse(text);
                    let _ = Parser::new(text).skip_value();
                }
                bytes[i] = old;
            }
        }
    }
}
