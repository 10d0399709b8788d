//! Live-row bitmaps, maintained incrementally on every write so that an
//! unfiltered search builds nothing per call (SPEC.md §7.5).
//!
//! A bitmap covers a window of 64-row words starting at `base_word`: a
//! collection written in one stretch of the file costs bits for that stretch
//! only, and its search scans only that stretch of the vector buffer.

/// Bit `row % 64` of word `row / 64 - base_word` is set for each live row.
#[derive(Debug, Default, Clone)]
pub(crate) struct SpanBitmap {
    base_word: usize,
    words: Vec<u64>,
    count: usize,
}

/// The rows a search must scan: `rows` of the matrix, and the allowed rows
/// among them (`None` = every row in the range).
#[derive(Debug)]
pub(crate) struct Scope<'a> {
    pub(crate) rows: std::ops::Range<usize>,
    pub(crate) words: Option<&'a [u64]>,
}

impl SpanBitmap {
    /// Number of set bits.
    pub(crate) fn count(&self) -> usize {
        self.count
    }

    /// The aligned row range the words cover.
    pub(crate) fn row_range(&self) -> std::ops::Range<usize> {
        self.base_word * 64..(self.base_word + self.words.len()) * 64
    }

    pub(crate) fn contains(&self, row: usize) -> bool {
        let w = row / 64;
        w >= self.base_word
            && self
                .words
                .get(w - self.base_word)
                .is_some_and(|word| word & (1 << (row % 64)) != 0)
    }

    /// Reserves room so that setting rows up to `end_row` cannot allocate.
    pub(crate) fn try_reserve_to(
        &mut self,
        end_row: usize,
    ) -> Result<(), std::collections::TryReserveError> {
        let end_word = end_row.div_ceil(64);
        let base = if self.words.is_empty() {
            end_word.saturating_sub(1)
        } else {
            self.base_word
        };
        let need = end_word.saturating_sub(base);
        self.words
            .try_reserve(need.saturating_sub(self.words.len()))
    }

    /// Sets `row`. Rows are set in increasing order in practice (appends),
    /// but any order is correct.
    pub(crate) fn set(&mut self, row: usize) {
        let w = row / 64;
        if self.words.is_empty() {
            self.base_word = w;
        } else if w < self.base_word {
            let grow = self.base_word - w;
            self.words.splice(0..0, std::iter::repeat_n(0, grow));
            self.base_word = w;
        }
        let i = w - self.base_word;
        if i >= self.words.len() {
            self.words.resize(i + 1, 0);
        }
        let bit = 1u64 << (row % 64);
        if self.words[i] & bit == 0 {
            self.words[i] |= bit;
            self.count += 1;
        }
    }

    /// Clears `row` (a no-op if it is not set); trailing empty words are
    /// dropped, and an empty bitmap forgets its window.
    pub(crate) fn clear(&mut self, row: usize) {
        let w = row / 64;
        if w < self.base_word {
            return;
        }
        let i = w - self.base_word;
        let bit = 1u64 << (row % 64);
        if let Some(word) = self.words.get_mut(i)
            && *word & bit != 0
        {
            *word &= !bit;
            self.count -= 1;
        }
        while self.words.last() == Some(&0) {
            self.words.pop();
        }
        if self.words.is_empty() {
            self.base_word = 0;
        }
    }

    /// Iterates the set rows in increasing order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        let base = self.base_word * 64;
        self.words.iter().enumerate().flat_map(move |(i, &w)| {
            let mut w = w;
            std::iter::from_fn(move || {
                if w == 0 {
                    return None;
                }
                let bit = w.trailing_zeros() as usize;
                w &= w - 1;
                Some(base + i * 64 + bit)
            })
        })
    }

    /// What a search over these rows must scan, given `total_rows` rows in
    /// the buffer. When the set rows are one unbroken run, no bitmap is
    /// needed at all: the kernel scans exactly that run, unfiltered.
    pub(crate) fn scope(&self, total_rows: usize) -> Scope<'_> {
        if self.count == 0 {
            return Scope {
                rows: 0..0,
                words: None,
            };
        }
        let first_word = self.words.iter().position(|&w| w != 0).unwrap_or(0);
        let first =
            (self.base_word + first_word) * 64 + self.words[first_word].trailing_zeros() as usize;
        let last_word = self.words.len() - 1; // trailing words are never zero
        let last =
            (self.base_word + last_word) * 64 + 63 - self.words[last_word].leading_zeros() as usize;
        if last + 1 - first == self.count {
            return Scope {
                rows: first..last + 1,
                words: None,
            };
        }
        let range = self.row_range();
        Scope {
            rows: range.start..range.end.min(total_rows),
            words: Some(&self.words),
        }
    }

    /// Rebuilds the bitmap from increasing `rows` (after compaction).
    pub(crate) fn from_sorted(rows: impl Iterator<Item = usize>) -> SpanBitmap {
        let mut b = SpanBitmap::default();
        for r in rows {
            b.set(r);
        }
        b
    }

    /// Heap bytes (for `footprint()`).
    pub(crate) fn heap_bytes(&self) -> usize {
        self.words.capacity() * 8
    }
}

/// ORs `src` (a bitmap window) into `dst`, whose word 0 is row 0.
pub(crate) fn or_into(dst: &mut [u64], src: &SpanBitmap) {
    for (i, w) in src.words.iter().enumerate() {
        if let Some(d) = dst.get_mut(src.base_word + i) {
            *d |= *w;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_clear_iter_and_count() {
        let mut b = SpanBitmap::default();
        for r in [200, 130, 131, 500, 64] {
            b.set(r);
        }
        b.set(130); // twice: no double count
        assert_eq!(b.count(), 5);
        assert_eq!(b.iter().collect::<Vec<_>>(), vec![64, 130, 131, 200, 500]);
        assert!(b.contains(500) && !b.contains(499) && !b.contains(0));
        b.clear(500);
        b.clear(499); // absent: no-op
        assert_eq!(b.count(), 4);
        assert_eq!(b.row_range(), 64..256, "trailing empty words dropped");
        for r in [64, 130, 131, 200] {
            b.clear(r);
        }
        assert_eq!(b.count(), 0);
        assert_eq!(b.iter().count(), 0);
    }

    #[test]
    fn scope_of_a_contiguous_run_needs_no_bitmap() {
        let b = SpanBitmap::from_sorted(100..300);
        let s = b.scope(1000);
        assert_eq!(s.rows, 100..300);
        assert!(s.words.is_none());
    }

    #[test]
    fn scope_with_holes_passes_aligned_words() {
        let mut b = SpanBitmap::from_sorted(100..300);
        b.clear(150);
        let s = b.scope(290);
        assert_eq!(
            s.rows,
            64..290,
            "window is word-aligned, clipped to the buffer"
        );
        let words = s.words.unwrap();
        let allowed: Vec<usize> = (0..words.len() * 64)
            .filter(|i| words[i / 64] & (1 << (i % 64)) != 0)
            .map(|i| i + 64)
            .collect();
        let want: Vec<usize> = (100..300).filter(|&r| r != 150).collect();
        assert_eq!(allowed, want);
    }

    #[test]
    fn or_into_aligns_windows() {
        let a = SpanBitmap::from_sorted([3usize, 70].into_iter());
        let b = SpanBitmap::from_sorted([130usize].into_iter());
        let mut dst = vec![0u64; 3];
        or_into(&mut dst, &a);
        or_into(&mut dst, &b);
        assert_eq!(dst, vec![1 << 3, 1 << 6, 1 << 2]);
    }
}
