//! Anchored glob patterns on attribute strings: `*` (any run of characters,
//! `/` included), `?` (one character), `[abc]`, `[a-z]`, `[!a-z]` (classes,
//! `]` first in a class is literal), and `\x` (a literal `x`).
//!
//! Matching is the classic two-pointer algorithm with one backtrack point
//! (the last `*`), so it runs in O(pattern x text) time at worst, never
//! exponential, whatever the pattern.

use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Literal(char),
    AnyOne,
    Star,
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

/// A compiled glob pattern.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Glob {
    tokens: Vec<Token>,
}

impl Glob {
    /// Compiles `pattern`; an unclosed class or a trailing `\` is an error.
    pub(crate) fn new(pattern: &str) -> Result<Glob> {
        let bad = |why: &str| Error::invalid(format!("glob pattern {pattern:?}: {why}"));
        let mut tokens = Vec::new();
        let mut chars = pattern.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '*' => {
                    // Consecutive stars match the same as one.
                    if tokens.last() != Some(&Token::Star) {
                        tokens.push(Token::Star);
                    }
                }
                '?' => tokens.push(Token::AnyOne),
                '\\' => match chars.next() {
                    Some(l) => tokens.push(Token::Literal(l)),
                    None => return Err(bad("ends with an unescaped '\\'")),
                },
                '[' => {
                    let negated = chars.next_if(|&c| c == '!' || c == '^').is_some();
                    let mut ranges = Vec::new();
                    let mut first = true;
                    loop {
                        let Some(c) = chars.next() else {
                            return Err(bad("'[' is never closed by ']'"));
                        };
                        if c == ']' && !first {
                            break;
                        }
                        first = false;
                        let lo = if c == '\\' {
                            chars
                                .next()
                                .ok_or_else(|| bad("'[' is never closed by ']'"))?
                        } else {
                            c
                        };
                        // `a-z` is a range unless the '-' is last before ']'.
                        let mut ahead = chars.clone();
                        if ahead.next() == Some('-') && ahead.peek().is_some_and(|&c| c != ']') {
                            chars.next();
                            let mut hi = chars.next().ok_or_else(|| bad("'[' is never closed"))?;
                            if hi == '\\' {
                                hi = chars.next().ok_or_else(|| bad("'[' is never closed"))?;
                            }
                            if hi < lo {
                                return Err(bad(&format!("range {lo}-{hi} is reversed")));
                            }
                            ranges.push((lo, hi));
                        } else {
                            ranges.push((lo, lo));
                        }
                    }
                    tokens.push(Token::Class { negated, ranges });
                }
                c => tokens.push(Token::Literal(c)),
            }
        }
        Ok(Glob { tokens })
    }

    fn token_matches(token: &Token, c: char) -> bool {
        match token {
            Token::Literal(l) => *l == c,
            Token::AnyOne => true,
            Token::Class { negated, ranges } => {
                ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated
            }
            Token::Star => unreachable!("stars are handled by the matcher"),
        }
    }

    /// Whether the whole of `text` matches the whole pattern.
    pub(crate) fn matches(&self, text: &str) -> bool {
        let tokens = &self.tokens;
        let (mut p, mut t) = (0usize, 0usize);
        // The last star seen: its token index and the text index it resumes at.
        let mut backtrack: Option<(usize, usize)> = None;
        loop {
            let next_char = text[t..].chars().next();
            match (tokens.get(p), next_char) {
                (Some(Token::Star), _) => {
                    backtrack = Some((p, t));
                    p += 1;
                    continue;
                }
                (Some(tok), Some(c)) if Glob::token_matches(tok, c) => {
                    p += 1;
                    t += c.len_utf8();
                    continue;
                }
                (None, None) => return true,
                _ => {}
            }
            // Mismatch: let the last star swallow one more character.
            match backtrack {
                Some((star_p, star_t)) => match text[star_t..].chars().next() {
                    Some(c) => {
                        let resume = star_t + c.len_utf8();
                        backtrack = Some((star_p, resume));
                        p = star_p + 1;
                        t = resume;
                    }
                    None => return false,
                },
                None => return false,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, text: &str) -> bool {
        Glob::new(pattern).unwrap().matches(text)
    }

    #[test]
    fn glob_table() {
        let cases: &[(&str, &str, bool)] = &[
            ("", "", true),
            ("", "a", false),
            ("abc", "abc", true),
            ("abc", "abcd", false),
            ("abc", "xabc", false),
            ("*", "", true),
            ("*", "anything/at/all", true),
            ("src/*.rs", "src/a.rs", true),
            ("src/*.rs", "src/deep/a.rs", true),
            ("src/*.rs", "src/a.rsx", false),
            ("*.rs", ".rs", true),
            ("a*b*c", "aXXbYYc", true),
            ("a*b*c", "aXXbYY", false),
            ("a**c", "abc", true),
            ("?", "é", true),
            ("??", "é", false),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("[abc]x", "bx", true),
            ("[abc]x", "dx", false),
            ("[a-c]", "b", true),
            ("[a-c]", "d", false),
            ("[!a-c]", "d", true),
            ("[!a-c]", "a", false),
            ("[^a-c]", "z", true),
            ("[]]", "]", true),
            ("[!]]", "]", false),
            ("[a-]", "-", true),
            ("[a-]", "a", true),
            ("\\*", "*", true),
            ("\\*", "x", false),
            ("\\[x]", "[x]", true),
            ("*x", "xxxxxxxxxxxxxxxxxxxxxy", false),
            (
                "*a*a*a*a*a*b",
                "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                false,
            ),
            ("日*語", "日本語", true),
        ];
        for &(pattern, text, want) in cases {
            assert_eq!(m(pattern, text), want, "glob {pattern:?} on {text:?}");
        }
    }

    #[test]
    fn bad_patterns_are_errors() {
        for p in ["[abc", "[", "[!", "abc\\", "[z-a]"] {
            let e = Glob::new(p).unwrap_err();
            assert_eq!(e.kind(), crate::ErrorKind::InvalidInput, "{p}");
            assert!(e.to_string().contains(p), "{e}");
        }
    }
}
