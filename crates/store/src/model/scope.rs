//! Which rows a search scans: the live rows of the collections it names,
//! as a borrowed bitmap when one collection (or all) is searched and an
//! owned union otherwise, then narrowed by an attribute filter.

use super::Model;
use crate::bitmap::{self, Scope};
use crate::error::Result;
use crate::filter::Compiled;

/// The rows a search scans and which of them are allowed.
#[derive(Debug)]
pub(crate) enum SearchScope<'a> {
    Borrowed(Scope<'a>),
    Owned {
        rows: std::ops::Range<usize>,
        words: Vec<u64>,
    },
}

impl SearchScope<'_> {
    pub(crate) fn rows(&self) -> std::ops::Range<usize> {
        match self {
            SearchScope::Borrowed(s) => s.rows.clone(),
            SearchScope::Owned { rows, .. } => rows.clone(),
        }
    }
    pub(crate) fn words(&self) -> Option<&[u64]> {
        match self {
            SearchScope::Borrowed(s) => s.words,
            SearchScope::Owned { words, .. } => Some(words),
        }
    }
}

impl Model {
    /// The rows a search over `collections` scans (`None` = all of them).
    /// Unknown names are the caller's to reject first.
    pub(crate) fn scope(&self, collections: Option<&[String]>) -> SearchScope<'_> {
        let total = self.rows();
        let names = match collections {
            None => return SearchScope::Borrowed(self.live.scope(total)),
            Some(names) => names,
        };
        let mut slots: Vec<u32> = names.iter().filter_map(|n| self.slot(n)).collect();
        slots.sort_unstable();
        slots.dedup();
        match slots.as_slice() {
            [] => SearchScope::Owned {
                rows: 0..0,
                words: Vec::new(),
            },
            [one] => match &self.collections[*one as usize] {
                Some(c) => SearchScope::Borrowed(c.live.scope(total)),
                None => SearchScope::Owned {
                    rows: 0..0,
                    words: Vec::new(),
                },
            },
            many => {
                let mut words = vec![0u64; total.div_ceil(64)];
                for s in many {
                    if let Some(c) = &self.collections[*s as usize] {
                        bitmap::or_into(&mut words, &c.live);
                    }
                }
                SearchScope::Owned {
                    rows: 0..total,
                    words,
                }
            }
        }
    }

    /// Narrows `scope` to the rows whose attributes match `filter`: a fresh
    /// bitmap, relative to the scope's first row.
    pub(crate) fn filter_scope(
        &self,
        scope: &SearchScope<'_>,
        filter: &Compiled,
    ) -> Result<Vec<u64>> {
        let rows = scope.rows();
        let mut words = Vec::new();
        words.try_reserve_exact(rows.len().div_ceil(64))?;
        words.resize(rows.len().div_ceil(64), 0u64);
        let mut test = |row: usize| {
            if filter.matches(&self.attrs[row]) {
                let rel = row - rows.start;
                words[rel / 64] |= 1 << (rel % 64);
            }
        };
        match scope.words() {
            None => rows.clone().for_each(&mut test),
            Some(allowed) => {
                for (i, &w) in allowed.iter().enumerate() {
                    let mut w = w;
                    while w != 0 {
                        let row = rows.start + i * 64 + w.trailing_zeros() as usize;
                        w &= w - 1;
                        if row < rows.end {
                            test(row);
                        }
                    }
                }
            }
        }
        Ok(words)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attrs::RowAttrs;
    use crate::options::Scan;

    fn upsert(m: &mut Model, c: &str, id: &str) {
        m.reserve_upserts(c, 1, id.len()).unwrap();
        m.vectors.extend(std::iter::repeat_n(1.0, m.dim));
        m.apply_upserts(c, std::iter::once((id, RowAttrs::default())), 0);
    }

    #[test]
    fn union_scope_of_interleaved_collections() {
        let mut m = Model::new(1, Scan::F32).unwrap();
        for i in 0..200 {
            upsert(&mut m, ["a", "b", "c"][i % 3], &format!("x{}", i % 50));
        }
        let names: Vec<String> = vec!["b".into(), "c".into()];
        let scope = m.scope(Some(&names));
        let words = scope.words().unwrap();
        for row in scope.rows() {
            let allowed = words[row / 64] >> (row % 64) & 1 == 1;
            let owner = m.row_collection(row);
            let live = m.live.contains(row);
            assert_eq!(
                allowed,
                live && owner != "a",
                "row {row} owner {owner} live {live}"
            );
        }
    }
}
