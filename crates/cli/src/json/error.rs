//! The reader's error: what is wrong, and where, in lines and columns.

use std::fmt;

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

impl JsonError {
    /// An error at byte offset `pos` of `text` (clamped to its end).
    pub(super) fn at(text: &str, pos: usize, message: String) -> Self {
        let pos = pos.min(text.len());
        let before = &text.as_bytes()[..pos];
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
            message,
        }
    }
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
