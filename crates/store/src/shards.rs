//! Exact search over several stores (SPEC.md §9.2): each store's exact
//! top-k, merged by score, is the exact top-k of the union.
//!
//! Why free functions over `&[&Store]` rather than a `Shards` type that owns
//! its stores: an application already owns its stores in whatever way suits
//! it (plain values, `Arc<RwLock<Store>>` with a writer beside the
//! searchers, read-only stores it refreshes on its own schedule), and a
//! search only needs to borrow them for one call. An owning type would
//! force one ownership model and add nothing the slice does not say: the
//! order of the slice is the tie-break order, and a hit names its store by
//! its index in the slice.
//!
//! ```
//! use nidus_store::{Options, Record, Search, Store, search_shards};
//! # fn main() -> nidus_store::Result<()> {
//! # let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
//! let mut left = Store::open(a.path(), Options::new(2))?;
//! let mut right = Store::open(b.path(), Options::new(2))?;
//! left.upsert("docs", &[Record::new("x", [1.0, 0.0]), Record::new("y", [0.0, 1.0])])?;
//! right.upsert("docs", &[Record::new("z", [1.0, 0.2])])?;
//!
//! let hits = search_shards(&[&left, &right], &[1.0, 0.1], Search::top(2))?;
//! let found: Vec<(usize, &str)> = hits.iter().map(|h| (h.shard, h.hit.id.as_str())).collect();
//! assert_eq!(found, [(1, "z"), (0, "x")]);
//! # Ok(()) }
//! ```

use std::borrow::Borrow;
use std::cmp::Ordering;

use crate::error::{Error, ErrorKind, Result};
use crate::store::{Hit, Search, Store};

/// One hit of a search over several stores: the hit, and which store it
/// came from (its index in the slice the search was given).
#[derive(Debug, Clone, PartialEq)]
pub struct ShardHit {
    /// The index of the hit's store in the searched slice.
    pub shard: usize,
    /// The hit, exactly as that store's own search returns it.
    pub hit: Hit,
}

/// The best `search.k()` records for `query` over all `stores` together:
/// the exact top-k of their union, best first (SPEC.md §9.2).
///
/// Equal scores are ordered by the position of their store in `stores`,
/// then by that store's own rule (insertion order). Each store answers
/// with exactly what [`Store::search`] returns, so scores are bit for bit
/// the ones a single store holding the same rows computes.
///
/// Errors, before any store is searched:
/// - [`ErrorKind::InvalidInput`] for an empty slice, or a store given
///   twice (the same object, or the same directory as given): its hits
///   would count twice;
/// - [`ErrorKind::DimensionMismatch`] when the stores' dimensions differ,
///   naming the first store and the one that differs;
/// - [`ErrorKind::NotFound`] for a named collection that no store has.
///   A collection some stores lack is not an error: routing by
///   [`shard_of`](nidus_format::shard_of) leaves a shard without a
///   collection whenever none of its records hashed there, and such a
///   store simply contributes no hits.
///
/// Query errors ([`ErrorKind::DimensionMismatch`], invalid components)
/// are those of [`Store::search`].
pub fn search_shards(
    stores: &[&Store],
    query: &[f32],
    search: impl Borrow<Search>,
) -> Result<Vec<ShardHit>> {
    let mut lists = search_shards_batch(stores, &[query], search)?;
    Ok(lists.pop().unwrap_or_default())
}

/// [`search_shards`] for many queries: each store answers the whole batch
/// in one pass over its vectors ([`Store::search_batch`]); returns one
/// merged list per query, in order.
pub fn search_shards_batch<Q: AsRef<[f32]>>(
    stores: &[&Store],
    queries: &[Q],
    search: impl Borrow<Search>,
) -> Result<Vec<Vec<ShardHit>>> {
    let search = search.borrow();
    check_stores(stores)?;
    let scoped = scope_per_store(stores, search)?;
    let mut per_store = Vec::with_capacity(stores.len());
    for (store, scope) in stores.iter().zip(&scoped) {
        per_store.push(match scope {
            Some(s) => store.search_batch(queries, s)?,
            None => vec![Vec::new(); queries.len()],
        });
    }
    let mut merged = Vec::with_capacity(queries.len());
    for q in 0..queries.len() {
        let lists = per_store
            .iter_mut()
            .map(|lists| std::mem::take(&mut lists[q]));
        merged.push(merge_top_k(lists, search.k));
    }
    Ok(merged)
}

/// Merges per-store hit lists, each best first as [`Store::search`]
/// returns them, into the best `k` of all: higher score first; equal
/// scores in list order (the `i`-th list is shard `i`), then in each
/// list's own order. Scores compare as the kernel compares them (`-0.0`
/// equals `0.0`; NaN, which a search never returns, last).
///
/// This is the merge [`search_shards`] uses, for hit lists an application
/// gathered itself (for example from stores on other machines).
pub fn merge_top_k(lists: impl IntoIterator<Item = Vec<Hit>>, k: usize) -> Vec<ShardHit> {
    let mut all: Vec<ShardHit> = lists
        .into_iter()
        .enumerate()
        .flat_map(|(shard, hits)| hits.into_iter().map(move |hit| ShardHit { shard, hit }))
        .collect();
    // A stable sort on the score alone keeps shard order, then each list's
    // own order, among equal scores: exactly the tie rule.
    all.sort_by(|a, b| by_score(a.hit.score, b.hit.score));
    all.truncate(k);
    all
}

/// Higher first, NaN last; equal (including `-0.0` and `0.0`) is `Equal`.
fn by_score(a: f32, b: f32) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (false, false) => b.partial_cmp(&a).unwrap_or(Ordering::Equal),
        (false, true) => Ordering::Less,
        (true, false) => Ordering::Greater,
        (true, true) => Ordering::Equal,
    }
}

/// At least one store, no store twice, one dimension.
fn check_stores(stores: &[&Store]) -> Result<()> {
    let Some(first) = stores.first() else {
        return Err(Error::invalid("no stores to search"));
    };
    for (i, a) in stores.iter().enumerate() {
        for b in &stores[..i] {
            if std::ptr::eq(*a, *b) || a.dir() == b.dir() {
                return Err(Error::invalid(format!(
                    "the store {} is given twice: its hits would count twice",
                    a.dir().display()
                )));
            }
        }
        if a.dimension() != first.dimension() {
            return Err(Error::shard_dimensions(
                (first.dir(), first.dimension()),
                (a.dir(), a.dimension()),
            ));
        }
    }
    Ok(())
}

/// Each store's search: the named collections it has (`None` when it has
/// none of them, so it contributes no hits); every name must exist in
/// some store.
fn scope_per_store(stores: &[&Store], search: &Search) -> Result<Vec<Option<Search>>> {
    let Some(names) = &search.collections else {
        return Ok(vec![Some(search.clone()); stores.len()]);
    };
    if let Some(missing) = names
        .iter()
        .find(|n| !stores.iter().any(|s| s.has_collection(n)))
    {
        return Err(Error::new(
            ErrorKind::NotFound,
            format!("no store has a collection '{missing}'"),
        ));
    }
    Ok(stores
        .iter()
        .map(|store| {
            let present: Vec<String> = names
                .iter()
                .filter(|n| store.has_collection(n))
                .cloned()
                .collect();
            (!present.is_empty()).then(|| {
                let mut s = search.clone();
                s.collections = Some(present);
                s
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use nidus_format::Attributes;

    fn hit(id: &str, score: f32) -> Hit {
        Hit {
            collection: "c".into(),
            id: id.into(),
            score,
            attrs: Attributes::new(),
            vector: None,
        }
    }

    fn ids(hits: &[ShardHit]) -> Vec<(usize, &str)> {
        hits.iter().map(|h| (h.shard, h.hit.id.as_str())).collect()
    }

    #[test]
    fn merge_orders_by_score_then_shard_then_each_list() {
        let lists = vec![
            vec![hit("a", 0.9), hit("b", 0.5), hit("c", 0.5)],
            vec![hit("d", 0.95), hit("e", 0.5)],
            vec![],
            vec![hit("f", 0.5), hit("g", -0.1)],
        ];
        let all = merge_top_k(lists.clone(), 10);
        assert_eq!(
            ids(&all),
            [
                (1, "d"),
                (0, "a"),
                (0, "b"),
                (0, "c"),
                (1, "e"),
                (3, "f"),
                (3, "g")
            ]
        );
        assert_eq!(
            ids(&merge_top_k(lists.clone(), 3)),
            [(1, "d"), (0, "a"), (0, "b")]
        );
        assert!(merge_top_k(lists, 0).is_empty());
    }

    #[test]
    fn signed_zeros_tie_and_nan_goes_last() {
        let lists = vec![
            vec![hit("nan", f32::NAN)],
            vec![hit("pos", 0.0)],
            vec![hit("neg", -0.0)],
        ];
        // -0.0 and 0.0 are equal scores: shard order decides, as the
        // kernel's own rule does inside one store.
        let merged = merge_top_k(lists, 3);
        assert_eq!(ids(&merged), [(1, "pos"), (2, "neg"), (0, "nan")]);
    }
}
