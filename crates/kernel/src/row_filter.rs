//! The row filter (a bitmap of allowed rows) and the walk that turns a row
//! range plus an optional filter into blocks of row indices for the scan.

use std::fmt;
use std::ops::Range;

/// Rows allowed by a filter: bit `row % 64` of word `row / 64` set means the
/// row is allowed. Words missing at the end (a bitmap shorter than the
/// matrix) mean "not allowed"; bits past the last row are ignored.
///
/// The scan reads the bitmap a word at a time and skips zero words without
/// touching their rows, so a filter that allows few rows is cheaper than no
/// filter, and a scan without a filter pays nothing for the feature.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct RowFilter<'a> {
    words: &'a [u64],
}

impl<'a> RowFilter<'a> {
    /// A filter over `words` (see the type docs for the bit layout).
    pub fn new(words: &'a [u64]) -> Self {
        RowFilter { words }
    }

    /// The bitmap this filter reads.
    pub fn words(&self) -> &'a [u64] {
        self.words
    }

    /// Whether `row` is allowed.
    pub fn allows(&self, row: usize) -> bool {
        self.words
            .get(row / 64)
            .is_some_and(|w| w >> (row % 64) & 1 == 1)
    }
}

impl fmt::Debug for RowFilter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let allowed: u64 = self.words.iter().map(|w| u64::from(w.count_ones())).sum();
        f.debug_struct("RowFilter")
            .field("words", &self.words.len())
            .field("allowed", &allowed)
            .finish()
    }
}

/// Calls `f` with the allowed rows of `range`, in ascending order, in blocks
/// of at most `block` indices (`block > 0`). `buf` is scratch space.
pub(crate) fn for_each_block(
    range: Range<usize>,
    filter: Option<&RowFilter<'_>>,
    block: usize,
    buf: &mut Vec<usize>,
    mut f: impl FnMut(&[usize]),
) {
    buf.clear();
    let Some(filter) = filter else {
        let mut start = range.start;
        while start < range.end {
            let end = range.end.min(start + block);
            buf.clear();
            buf.extend(start..end);
            f(buf);
            start = end;
        }
        return;
    };
    if range.is_empty() {
        return;
    }
    let first_word = range.start / 64;
    let last_word = (range.end - 1) / 64; // inclusive
    let words = filter.words();
    for wi in first_word..=last_word.min(words.len().saturating_sub(1)) {
        if wi >= words.len() {
            break;
        }
        let mut w = words[wi];
        if w == 0 {
            continue;
        }
        let base = wi * 64;
        if base < range.start {
            w &= !0u64 << (range.start - base);
        }
        if base + 64 > range.end {
            w &= !0u64 >> (base + 64 - range.end);
        }
        if w == !0 {
            // A whole word allowed (the common case: the live rows of a
            // store): append its 64 rows as ranges, not bit by bit.
            let mut at = base;
            while at < base + 64 {
                let take = (block - buf.len()).min(base + 64 - at);
                buf.extend(at..at + take);
                at += take;
                if buf.len() == block {
                    f(buf);
                    buf.clear();
                }
            }
            continue;
        }
        while w != 0 {
            buf.push(base + w.trailing_zeros() as usize);
            w &= w - 1;
            if buf.len() == block {
                f(buf);
                buf.clear();
            }
        }
    }
    if !buf.is_empty() {
        f(buf);
        buf.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(
        range: Range<usize>,
        filter: Option<&RowFilter<'_>>,
        block: usize,
    ) -> Vec<Vec<usize>> {
        let mut out = Vec::new();
        let mut buf = Vec::new();
        for_each_block(range, filter, block, &mut buf, |b| out.push(b.to_vec()));
        out
    }

    #[test]
    fn unfiltered_blocks_cover_the_range_in_order() {
        let blocks = collect(3..20, None, 8);
        assert_eq!(
            blocks,
            vec![(3..11).collect::<Vec<_>>(), (11..19).collect(), vec![19]]
        );
        assert!(collect(5..5, None, 8).is_empty());
    }

    #[test]
    fn filtered_blocks_respect_bits_range_and_missing_words() {
        // Word 0: every other row; word 1: rows 64..128 all; word 2 absent.
        let words = [0x5555_5555_5555_5555u64, !0];
        let f = RowFilter::new(&words);
        let rows: Vec<usize> = collect(1..200, Some(&f), 7).concat();
        let want: Vec<usize> = (1..200).filter(|&r| f.allows(r)).collect();
        assert_eq!(rows, want);
        assert_eq!(rows.first(), Some(&2));
        assert_eq!(rows.last(), Some(&127));
        assert!(!f.allows(130));
        // A range that ends inside a word and starts inside another.
        let rows: Vec<usize> = collect(60..70, Some(&f), 64).concat();
        assert_eq!(rows, vec![60, 62, 64, 65, 66, 67, 68, 69]);
        // Blocks never exceed their size.
        assert!(
            collect(0..128, Some(&f), 5)
                .iter()
                .all(|b| !b.is_empty() && b.len() <= 5)
        );
    }

    #[test]
    fn whole_words_and_scattered_bits_give_the_same_blocks_as_bit_by_bit() {
        let mut r = crate::tests::Rng::new(7);
        for case in 0..200 {
            let words: Vec<u64> = (0..20)
                .map(|_| match r.below(4) {
                    0 => 0,
                    1 | 2 => !0,
                    _ => r.next_u64(),
                })
                .collect();
            let f = RowFilter::new(&words);
            let start = r.below(300);
            let end = start + r.below(1400 - start);
            let block = [1, 5, 63, 64, 100, 256][case % 6];
            let blocks = collect(start..end, Some(&f), block);
            let want: Vec<usize> = (start..end).filter(|&row| f.allows(row)).collect();
            assert_eq!(blocks.concat(), want, "case {case}");
            // Every block but the last is full.
            let full = blocks.len().saturating_sub(1);
            assert!(
                blocks[..full].iter().all(|b| b.len() == block),
                "case {case}"
            );
            assert!(
                blocks
                    .last()
                    .is_none_or(|b| !b.is_empty() && b.len() <= block)
            );
        }
    }

    #[test]
    fn empty_filter_allows_nothing() {
        let f = RowFilter::new(&[]);
        assert!(collect(0..1000, Some(&f), 16).is_empty());
        assert!(!f.allows(0));
    }
}
