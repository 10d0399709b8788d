//! The reader: a [`Parser`] cursor over JSON text, and [`parse`] for a
//! whole document.

use std::borrow::Cow;

use super::escape::{self, EscapeError};
use super::float::literal_to_f32;
use super::{Json, JsonError, Number};

/// The deepest nesting of arrays and objects the reader accepts; deeper
/// input is an error rather than a stack overflow.
pub const MAX_DEPTH: usize = 128;

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
        JsonError::at(self.text, pos, message.into())
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
            Some(b'-' | b'0'..=b'9') => {
                Ok(Json::Number(Number::from_checked_literal(self.number()?)))
            }
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
        let open_quote = self.pos - 1;
        let start = self.pos;
        let mut i = escape::plain_run_end(bytes, start);
        if bytes.get(i) == Some(&b'"') {
            self.pos = i + 1;
            return Ok(Cow::Borrowed(&self.text[start..i]));
        }
        // Escapes (or an error): copy plain runs, decode escapes between them.
        let mut out = String::with_capacity(i - start + 16);
        out.push_str(&self.text[start..i]);
        loop {
            match bytes.get(i) {
                Some(b'"') => {
                    self.pos = i + 1;
                    return Ok(Cow::Owned(out));
                }
                Some(b'\\') => {
                    let (c, len) = escape::decode(bytes, i).map_err(|e| match e {
                        EscapeError::Unterminated => {
                            self.error_at(open_quote, "unterminated string")
                        }
                        EscapeError::Bad { at, message } => self.error_at(at, message),
                    })?;
                    out.push(c);
                    i += len;
                }
                Some(_) => {
                    return Err(self.error_at(i, "control character in string (escape it)"));
                }
                None => return Err(self.error_at(open_quote, "unterminated string")),
            }
            let run_end = escape::plain_run_end(bytes, i);
            out.push_str(&self.text[i..run_end]);
            i = run_end;
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
