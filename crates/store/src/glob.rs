//! Anchored glob patterns on attribute strings, with path semantics (as in
//! gitignore and the shell's globstar):
//! - `*` is any run of characters *within one path segment*: it never
//!   matches `/`;
//! - `**` is any run of characters, `/` included; written as a whole
//!   segment followed by `/` (`src/**/x.rs`, `**/x.rs`), it also matches no
//!   segment at all, so `src/**/x.rs` matches `src/x.rs`;
//! - `?` is one character other than `/`; `[abc]`, `[a-z]`, `[!a-z]` (also
//!   `[^a-z]`) are classes (`]` first in a class is literal), never matching
//!   `/`; `\x` is a literal `x`.
//!
//! Matching simulates the pattern as an automaton, one set of pattern
//! positions per text character, so it takes O(pattern x text) time at
//! worst, never exponential, whatever the pattern.

use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Literal(char),
    /// `?`: one character, not `/`.
    AnyOne,
    /// `*`: any run within a segment.
    Star,
    /// `**`: any run, `/` included.
    DoubleStar,
    /// The start of a segment-wide `**/`: it may also match nothing, so
    /// the automaton may skip the `**` and `/` tokens that follow it.
    SkipNext2,
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
                    let mut stars = 1;
                    while chars.next_if_eq(&'*').is_some() {
                        stars += 1;
                    }
                    if stars == 1 {
                        tokens.push(Token::Star);
                        continue;
                    }
                    // Three stars or more match the same as two.
                    let segment_start = matches!(tokens.last(), None | Some(Token::Literal('/')));
                    if segment_start && chars.next_if_eq(&'/').is_some() {
                        tokens.extend([Token::SkipNext2, Token::DoubleStar, Token::Literal('/')]);
                    } else {
                        tokens.push(Token::DoubleStar);
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

    /// Whether the whole of `text` matches the whole pattern.
    pub(crate) fn matches(&self, text: &str) -> bool {
        // Position sets on the stack for the usual short pattern: this runs
        // once per candidate row.
        const STACK: usize = 64;
        let n = self.tokens.len() + 1;
        if n <= STACK {
            let (mut now, mut next) = ([false; STACK], [false; STACK]);
            self.run(text, &mut now[..n], &mut next[..n])
        } else {
            self.run(text, &mut vec![false; n], &mut vec![false; n])
        }
    }

    /// The automaton: `now[p]` says the text read so far can leave the
    /// pattern at token `p`; each character moves every position forward
    /// (or keeps it, on a star).
    fn run<'a>(&self, text: &str, mut now: &'a mut [bool], mut next: &'a mut [bool]) -> bool {
        let tokens = &self.tokens;
        let end = tokens.len();
        now[0] = true;
        self.close(now);
        for c in text.chars() {
            next.fill(false);
            let mut any = false;
            for p in 0..end {
                if !now[p] {
                    continue;
                }
                let to = match &tokens[p] {
                    Token::Literal(l) => (*l == c).then_some(p + 1),
                    Token::AnyOne => (c != '/').then_some(p + 1),
                    Token::Class { negated, ranges } => (c != '/'
                        && ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated)
                        .then_some(p + 1),
                    Token::Star => (c != '/').then_some(p),
                    Token::DoubleStar => Some(p),
                    Token::SkipNext2 => None,
                };
                if let Some(to) = to {
                    next[to] = true;
                    any = true;
                }
            }
            if !any {
                return false;
            }
            self.close(next);
            std::mem::swap(&mut now, &mut next);
        }
        now[end]
    }

    /// Adds the positions reachable without reading a character: past a
    /// star (which may match nothing) and past a skippable `**/`. Every such
    /// move goes forward, so one pass in order is enough.
    fn close(&self, set: &mut [bool]) {
        for (p, token) in self.tokens.iter().enumerate() {
            if !set[p] {
                continue;
            }
            match token {
                Token::Star | Token::DoubleStar => set[p + 1] = true,
                Token::SkipNext2 => {
                    set[p + 1] = true;
                    set[p + 3] = true;
                }
                _ => {}
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
            ("*", "anything", true),
            ("*", "anything/at/all", false),
            ("**", "anything/at/all", true),
            ("src/*.rs", "src/a.rs", true),
            // `*` stays within a segment; `**` crosses.
            ("src/*.rs", "src/deep/a.rs", false),
            ("src/*.rs", "src/deep/nested/x.rs", false),
            ("src/**.rs", "src/deep/nested/x.rs", true),
            ("src/**/*.rs", "src/deep/nested/x.rs", true),
            ("src/**/*.rs", "src/x.rs", true),
            ("src/**/*.rs", "src/x.py", false),
            ("src/**/*.rs", "srcx.rs", false),
            ("**/x.rs", "x.rs", true),
            ("**/x.rs", "a/b/x.rs", true),
            ("**/x.rs", "a/bx.rs", false),
            ("src/**", "src/a/b", true),
            ("src/**", "src", false),
            ("a/***/b", "a/b", true),
            ("a/***/b", "a/x/y/b", true),
            ("a**b", "a/x/b", true),
            ("a*/b", "ax/b", true),
            ("a*/b", "a/x/b", false),
            ("a?b", "a/b", false),
            ("a[/]b", "a/b", false),
            ("a[!x]b", "a/b", false),
            ("*/*", "a/b", true),
            ("*/*", "a/b/c", false),
            ("src/*.rs", "src/a.rsx", false),
            ("*.rs", ".rs", true),
            ("a*b*c", "aXXbYYc", true),
            ("a*b*c", "aXXbYY", false),
            ("a**c", "abc", true),
            ("a*c", "abbbc", true),
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
            ("**/a*a*a*a*a*b", &"aaaa/".repeat(40), false),
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
