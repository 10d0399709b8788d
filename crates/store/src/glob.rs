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
//! A pattern with one kind of star runs the classic two-pointer matcher
//! with one backtrack point; one that mixes `*` and `**` is simulated as an
//! automaton, one bitset of pattern positions per text character. Either
//! takes O(pattern x text) time at worst, never exponential, whatever the
//! pattern.

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
    /// How [`Glob::matches`] runs.
    strategy: Strategy,
    /// The automaton's positions with moves that read no character (stars,
    /// a skippable `**/`), as a bitset.
    empty_moves: Vec<u64>,
    /// The automaton as word-wide bit operations, for patterns of under 64
    /// tokens (boxed: a kilobyte of tables).
    one_word: Option<Box<OneWord>>,
}

/// The automaton of a pattern of under 64 tokens, whose position sets fit
/// one `u64`: a character moves every position at once (shift-and).
#[derive(Debug, Clone, PartialEq)]
struct OneWord {
    /// Per ASCII character: the positions whose single-character token
    /// matches it.
    ascii: [u64; 128],
    /// Positions of `*`, of `**`, and of a skippable `**/`.
    star: u64,
    double_star: u64,
    skip: u64,
}

/// With one kind of star the classic two-pointer matcher with one
/// backtrack point (the last star) is exact; mixing `*` and `**` needs the
/// automaton.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Strategy {
    /// Only `*` (or no star): backtracking stops at `/`.
    SegmentStars,
    /// Only `**`, never a skippable `**/`.
    CrossingStars,
    /// Both kinds, or a skippable `**/`.
    Automaton,
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
        let has = |want: &Token| tokens.iter().any(|t| t == want);
        let strategy = match (has(&Token::Star), has(&Token::DoubleStar)) {
            _ if has(&Token::SkipNext2) => Strategy::Automaton,
            (true, true) => Strategy::Automaton,
            (false, true) => Strategy::CrossingStars,
            (_, false) => Strategy::SegmentStars,
        };
        let mut empty_moves = vec![0u64; (tokens.len() + 1).div_ceil(64)];
        for (p, t) in tokens.iter().enumerate() {
            if matches!(t, Token::Star | Token::DoubleStar | Token::SkipNext2) {
                insert(&mut empty_moves, p);
            }
        }
        let one_word = (tokens.len() < 64).then(|| Box::new(OneWord::new(&tokens)));
        Ok(Glob {
            tokens,
            strategy,
            empty_moves,
            one_word,
        })
    }

    /// Whether the whole of `text` matches the whole pattern.
    pub(crate) fn matches(&self, text: &str) -> bool {
        match self.strategy {
            Strategy::SegmentStars => self.backtracking(text, false),
            Strategy::CrossingStars => self.backtracking(text, true),
            Strategy::Automaton => self.automaton(text),
        }
    }

    fn single_char_matches(token: &Token, c: char) -> bool {
        match token {
            Token::Literal(l) => *l == c,
            Token::AnyOne => c != '/',
            Token::Class { negated, ranges } => {
                c != '/' && ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi) != *negated
            }
            Token::Star | Token::DoubleStar | Token::SkipNext2 => false,
        }
    }

    /// The two-pointer matcher with one backtrack point, the last star: on
    /// a mismatch that star swallows one more character. Exact when all
    /// stars are of one kind: a later star can absorb whatever an earlier
    /// one would, and a `*` that meets `/` cannot swallow it, nor could any
    /// earlier `*` (the `/` would have to pass a literal `/` first).
    fn backtracking(&self, text: &str, stars_cross: bool) -> bool {
        let tokens = &self.tokens;
        let (mut p, mut t) = (0usize, 0usize);
        // The last star: its token index and the text index it resumes at.
        let mut backtrack: Option<(usize, usize)> = None;
        loop {
            let next_char = text[t..].chars().next();
            match (tokens.get(p), next_char) {
                (Some(Token::Star | Token::DoubleStar), _) => {
                    backtrack = Some((p, t));
                    p += 1;
                    continue;
                }
                (Some(tok), Some(c)) if Glob::single_char_matches(tok, c) => {
                    p += 1;
                    t += c.len_utf8();
                    continue;
                }
                (None, None) => return true,
                _ => {}
            }
            let Some((star_p, star_t)) = backtrack else {
                return false;
            };
            match text[star_t..].chars().next() {
                Some(c) if stars_cross || c != '/' => {
                    let resume = star_t + c.len_utf8();
                    backtrack = Some((star_p, resume));
                    p = star_p + 1;
                    t = resume;
                }
                _ => return false,
            }
        }
    }

    /// Any pattern, by simulating it as an automaton.
    fn automaton(&self, text: &str) -> bool {
        match &self.one_word {
            Some(w) => w.run(&self.tokens, text),
            None => {
                let words = (self.tokens.len() + 1).div_ceil(64);
                self.run(text, &mut vec![0; words], &mut vec![0; words])
            }
        }
    }

    /// The automaton: bit `p` of `now` says the text read so far can leave
    /// the pattern at token `p`; each character moves every such position
    /// forward (or keeps it, on a star). Only the positions present are
    /// visited, usually one or two.
    fn run<'a>(&self, text: &str, mut now: &'a mut [u64], mut next: &'a mut [u64]) -> bool {
        let tokens = &self.tokens;
        let end = tokens.len();
        insert(now, 0);
        self.close(now);
        for c in text.chars() {
            next.fill(0);
            let mut any = false;
            for (w, &word) in now.iter().enumerate() {
                let mut bits = word;
                while bits != 0 {
                    let p = w * 64 + bits.trailing_zeros() as usize;
                    bits &= bits - 1;
                    let Some(token) = tokens.get(p) else {
                        continue; // the end: no character may follow
                    };
                    let to = match token {
                        Token::Star => (c != '/').then_some(p),
                        Token::DoubleStar => Some(p),
                        Token::SkipNext2 => None,
                        single => Glob::single_char_matches(single, c).then_some(p + 1),
                    };
                    if let Some(to) = to {
                        insert(next, to);
                        any = true;
                    }
                }
            }
            if !any {
                return false;
            }
            self.close(next);
            std::mem::swap(&mut now, &mut next);
        }
        now[end / 64] & (1 << (end % 64)) != 0
    }

    /// Adds the positions reachable without reading a character: past a
    /// star (which may match nothing) and past a skippable `**/`. Every such
    /// move goes forward, so visiting positions in increasing order, new
    /// ones included, is enough.
    fn close(&self, set: &mut [u64]) {
        for w in 0..set.len() {
            let mut visited = 0u64;
            loop {
                let pending = set[w] & self.empty_moves[w] & !visited;
                if pending == 0 {
                    break;
                }
                let bit = pending.trailing_zeros();
                visited |= 1 << bit;
                match self.tokens.get(w * 64 + bit as usize) {
                    Some(Token::Star | Token::DoubleStar) => insert(set, w * 64 + bit as usize + 1),
                    Some(Token::SkipNext2) => {
                        insert(set, w * 64 + bit as usize + 1);
                        insert(set, w * 64 + bit as usize + 3);
                    }
                    _ => {}
                }
            }
        }
    }
}

impl OneWord {
    fn new(tokens: &[Token]) -> OneWord {
        let mut w = OneWord {
            ascii: [0; 128],
            star: 0,
            double_star: 0,
            skip: 0,
        };
        for (p, token) in tokens.iter().enumerate() {
            match token {
                Token::Star => w.star |= 1 << p,
                Token::DoubleStar => w.double_star |= 1 << p,
                Token::SkipNext2 => w.skip |= 1 << p,
                single => {
                    for (c, mask) in w.ascii.iter_mut().enumerate() {
                        if Glob::single_char_matches(single, char::from(c as u8)) {
                            *mask |= 1 << p;
                        }
                    }
                }
            }
        }
        w
    }

    /// [`Glob::run`] with each position set in one word.
    fn run(&self, tokens: &[Token], text: &str) -> bool {
        let mut now = self.close(1);
        for c in text.chars() {
            let matching = match self.ascii.get(c as usize) {
                Some(&m) => m,
                // Rare: test each token.
                None => tokens
                    .iter()
                    .enumerate()
                    .filter(|(_, t)| Glob::single_char_matches(t, c))
                    .fold(0, |m, (p, _)| m | 1 << p),
            };
            let mut next = (now & matching) << 1 | now & self.double_star;
            if c != '/' {
                next |= now & self.star;
            }
            if next == 0 {
                return false;
            }
            now = self.close(next);
        }
        now & 1 << tokens.len() != 0
    }

    /// Adds the positions reachable without reading a character.
    fn close(&self, mut set: u64) -> u64 {
        loop {
            let stars = set & (self.star | self.double_star);
            let skips = set & self.skip;
            let more = set | stars << 1 | skips << 1 | skips << 3;
            if more == set {
                return set;
            }
            set = more;
        }
    }
}

fn insert(set: &mut [u64], p: usize) {
    set[p / 64] |= 1 << (p % 64);
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
            ("**/日*", "a/日本", true),
            ("日/**/*語", "日/x/本語", true),
            ("日/**/*語", "日/x/本/語", true),
            ("é*/**", "éa/b", true),
            ("?*/**", "é/b", true),
            ("**/a*a*a*a*a*b", &"aaaa/".repeat(40), false),
        ];
        for &(pattern, text, want) in cases {
            assert_eq!(m(pattern, text), want, "glob {pattern:?} on {text:?}");
        }
    }

    /// Every pattern of up to 4 pieces over a small alphabet against every
    /// text of up to 5 characters: the backtracking matcher (where it is
    /// used) agrees with the automaton, which is the definition.
    #[test]
    fn backtracking_agrees_with_the_automaton() {
        let pieces = ["a", "/", "?", "*", "**", "**/", "[!a]"];
        let alphabet = ['a', 'b', '/'];
        let mut patterns = vec![String::new()];
        for _ in 0..4 {
            let longer: Vec<String> = patterns
                .iter()
                .flat_map(|p| pieces.iter().map(move |x| format!("{p}{x}")))
                .collect();
            patterns.extend(longer);
        }
        patterns.sort();
        patterns.dedup();
        let mut texts = vec![String::new()];
        for len in 1..=5 {
            let mut next = Vec::new();
            for t in texts.iter().filter(|t| t.chars().count() == len - 1) {
                for c in alphabet {
                    next.push(format!("{t}{c}"));
                }
            }
            texts.extend(next);
        }
        let mut compared = 0;
        for p in &patterns {
            let g = Glob::new(p).unwrap();
            let words = (g.tokens.len() + 1).div_ceil(64);
            for t in &texts {
                let general = g.run(t, &mut vec![0; words], &mut vec![0; words]);
                assert_eq!(g.automaton(t), general, "{p:?} on {t:?}: one word");
            }
            let crossing = match g.strategy {
                Strategy::SegmentStars => false,
                Strategy::CrossingStars => true,
                Strategy::Automaton => continue,
            };
            for t in &texts {
                assert_eq!(
                    g.backtracking(t, crossing),
                    g.automaton(t),
                    "{p:?} on {t:?}"
                );
                compared += 1;
            }
        }
        assert!(compared > 100_000, "{compared}");
    }

    #[test]
    fn patterns_past_128_tokens_match_too() {
        let long = "a".repeat(200);
        assert!(m(&format!("{long}*"), &format!("{long}xyz")));
        assert!(!m(&format!("{long}*"), &format!("{long}x/z")));
        assert!(m(&format!("*/{long}/**"), &format!("q/{long}/r/s")));
        assert!(!m(&long, &"a".repeat(199)));
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
