//! The inside of a JSON string: where a run of plain text ends, and what
//! one backslash escape decodes to (`\n`, `\u00e9`, a `\ud83d\ude00`
//! surrogate pair, ...).
//!
//! Offsets are byte offsets into the whole text, so the parser can report
//! every error at its place.

/// What is wrong with an escape.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum EscapeError {
    /// The text ends inside the escape: the string is unterminated.
    Unterminated,
    /// A malformed escape: what is wrong, and the byte offset to report.
    Bad {
        /// Where the error is reported.
        at: usize,
        /// What is wrong.
        message: &'static str,
    },
}

fn bad(at: usize, message: &'static str) -> EscapeError {
    EscapeError::Bad { at, message }
}

/// The offset of the first byte from `from` on that ends a run of plain
/// string text: a quote, a backslash or a control character (or the end).
/// All three are ASCII, so the run ends on a char boundary.
pub(super) fn plain_run_end(bytes: &[u8], from: usize) -> usize {
    bytes[from..]
        .iter()
        .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
        .map_or(bytes.len(), |n| from + n)
}

/// Decodes the escape whose backslash is at `at`: the character, and how
/// many bytes the escape takes (2 for `\n`, 6 for `\u00e9`, 12 for a
/// surrogate pair).
pub(super) fn decode(bytes: &[u8], at: usize) -> Result<(char, usize), EscapeError> {
    let c = match bytes.get(at + 1) {
        None => return Err(EscapeError::Unterminated),
        Some(b'u') => return decode_unicode(bytes, at),
        Some(b'"') => '"',
        Some(b'\\') => '\\',
        Some(b'/') => '/',
        Some(b'b') => '\u{8}',
        Some(b'f') => '\u{c}',
        Some(b'n') => '\n',
        Some(b'r') => '\r',
        Some(b't') => '\t',
        Some(_) => return Err(bad(at, "invalid escape in string")),
    };
    Ok((c, 2))
}

/// Decodes `\uXXXX` at `at`, and the `\uXXXX` after it when the first is a
/// high surrogate: JSON spells characters beyond U+FFFF as UTF-16 pairs.
fn decode_unicode(bytes: &[u8], at: usize) -> Result<(char, usize), EscapeError> {
    const HIGH: std::ops::RangeInclusive<u32> = 0xD800..=0xDBFF;
    const LOW: std::ops::RangeInclusive<u32> = 0xDC00..=0xDFFF;
    let first = hex4(bytes, at + 2)?;
    if LOW.contains(&first) {
        return Err(bad(at, "unpaired low surrogate in \\u escape"));
    }
    if !HIGH.contains(&first) {
        let c = char::from_u32(first).ok_or_else(|| bad(at, "invalid \\u escape"))?;
        return Ok((c, 6));
    }
    if bytes.get(at + 6..at + 8) != Some(&b"\\u"[..]) {
        return Err(bad(at, "unpaired high surrogate in \\u escape"));
    }
    let second = hex4(bytes, at + 8)?;
    if !LOW.contains(&second) {
        return Err(bad(at, "high surrogate not followed by a low surrogate"));
    }
    let code = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00);
    let c = char::from_u32(code).ok_or_else(|| bad(at, "invalid surrogate pair"))?;
    Ok((c, 12))
}

/// The four hex digits at `at` as a number; errors point at the first.
fn hex4(bytes: &[u8], at: usize) -> Result<u32, EscapeError> {
    let digits = bytes
        .get(at..at + 4)
        .ok_or_else(|| bad(at, "truncated \\u escape"))?;
    digits.iter().try_fold(0u32, |code, &d| {
        let v = char::from(d)
            .to_digit(16)
            .ok_or_else(|| bad(at, "\\u must be followed by 4 hex digits"))?;
        Ok(code * 16 + v)
    })
}

#[cfg(test)]
mod tests {
    use super::super::{Json, JsonError, parse};
    use super::{EscapeError, bad, decode, plain_run_end};

    fn err(text: &str) -> JsonError {
        parse(text).unwrap_err()
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

    /// Lengths, and error offsets: at the backslash, or at the hex digits.
    #[test]
    fn decode_reports_length_and_offsets() {
        assert_eq!(decode(br"x\n", 1), Ok(('\n', 2)));
        assert_eq!(decode(br"\u00e9", 0), Ok(('é', 6)));
        assert_eq!(decode(br"\ud83d\ude00", 0), Ok(('\u{1F600}', 12)));
        assert_eq!(decode(b"\\", 0), Err(EscapeError::Unterminated));
        let unpaired = bad(2, "unpaired high surrogate in \\u escape");
        assert_eq!(decode(br"ab\ud83dx", 2), Err(unpaired));
        let not_hex = bad(8, "\\u must be followed by 4 hex digits");
        assert_eq!(decode(br"\ud83d\u12G4", 0), Err(not_hex));
        assert_eq!(plain_run_end(b"ab\"c", 0), 2);
        assert_eq!(plain_run_end(b"ab\x01", 0), 2);
        assert_eq!(plain_run_end(b"abc", 1), 3);
    }
}
