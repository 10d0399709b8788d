//! The progress line of long commands: rows done, rows per second and the
//! time left, redrawn in place on stderr, and only while stderr is a
//! terminal (a log file or a pipe gets no control characters).

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// How often the line is redrawn at most.
const REDRAW_EVERY: Duration = Duration::from_millis(100);

/// A progress line for one task.
#[derive(Debug)]
pub struct Progress {
    label: &'static str,
    enabled: bool,
    start: Instant,
    last_draw: Option<Instant>,
    drawn: bool,
}

impl Progress {
    /// A progress line labelled `label`, shown only if stderr is a terminal.
    pub fn new(label: &'static str) -> Self {
        Self::with_enabled(label, std::io::stderr().is_terminal())
    }

    /// A progress line that is shown or not as `enabled` says.
    pub fn with_enabled(label: &'static str, enabled: bool) -> Self {
        Progress {
            label,
            enabled,
            start: Instant::now(),
            last_draw: None,
            drawn: false,
        }
    }

    /// Reports `rows` done and, when known, the fraction of the work done.
    /// Redraws at most every 100 ms.
    pub fn update(&mut self, rows: u64, fraction: Option<f64>) {
        if !self.enabled {
            return;
        }
        let now = Instant::now();
        if self
            .last_draw
            .is_some_and(|t| now.duration_since(t) < REDRAW_EVERY)
        {
            return;
        }
        self.last_draw = Some(now);
        let line = render(self.label, rows, now.duration_since(self.start), fraction);
        let mut err = std::io::stderr().lock();
        // Progress is best effort: a closed stderr must not fail the work.
        let _ = write!(err, "\r\x1b[K{line}");
        let _ = err.flush();
        self.drawn = true;
    }

    /// Erases the line (the caller prints its own summary).
    pub fn finish(&mut self) {
        if self.drawn {
            let _ = write!(std::io::stderr().lock(), "\r\x1b[K");
            self.drawn = false;
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        // Leave the terminal clean when an error ends the task early.
        self.finish();
    }
}

/// The text of a progress line: `label: 12,345 rows  6,789 rows/s  42%  ETA 0:07`.
pub fn render(label: &str, rows: u64, elapsed: Duration, fraction: Option<f64>) -> String {
    let secs = elapsed.as_secs_f64();
    let rate = if secs > 0.0 { rows as f64 / secs } else { 0.0 };
    let mut line = format!(
        "{label}: {} rows  {} rows/s",
        group_digits(rows),
        group_digits(rate as u64)
    );
    if let Some(f) = fraction.filter(|f| f.is_finite()) {
        let f = f.clamp(0.0, 1.0);
        line.push_str(&format!("  {:.0}%", f * 100.0));
        if f > 0.0 && secs > 0.0 {
            let left = secs * (1.0 - f) / f;
            line.push_str(&format!("  ETA {}", clock(left)));
        }
    }
    line
}

/// `1234567` as `1,234,567`.
pub fn group_digits(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Seconds as `m:ss` (or `h:mm:ss`).
fn clock(secs: f64) -> String {
    let s = secs.round().min(1e9) as u64;
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_rate_percent_and_eta() {
        let line = render("import", 50_000, Duration::from_secs(2), Some(0.25));
        assert_eq!(line, "import: 50,000 rows  25,000 rows/s  25%  ETA 0:06");
        let line = render("import", 7, Duration::ZERO, None);
        assert_eq!(line, "import: 7 rows  0 rows/s");
        let line = render("x", 1, Duration::from_secs(3600), Some(0.5));
        assert!(line.ends_with("50%  ETA 1:00:00"), "{line}");
        let line = render("x", 1, Duration::from_secs(1), Some(f64::NAN));
        assert_eq!(line, "x: 1 rows  1 rows/s");
    }

    #[test]
    fn groups_digits() {
        assert_eq!(group_digits(0), "0");
        assert_eq!(group_digits(999), "999");
        assert_eq!(group_digits(1000), "1,000");
        assert_eq!(group_digits(u64::MAX), "18,446,744,073,709,551,615");
    }

    #[test]
    fn disabled_progress_draws_nothing() {
        let mut p = Progress::with_enabled("x", false);
        p.update(10, Some(0.5));
        assert!(!p.drawn);
        p.finish();
    }
}
