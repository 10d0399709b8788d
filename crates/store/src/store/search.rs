//! Search: what a search asks for ([`Search`]), what it returns ([`Hit`]),
//! and the scan that answers it.

use std::borrow::Borrow;

use nidus_format::Attributes;

use super::Store;
use crate::error::{Error, Result};
use crate::filter::{Compiled, Filter};
use crate::scan::{self, ScanSpec};
use crate::validate;

/// Which attributes hits carry.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum AttrSelection {
    /// Every attribute (the default).
    #[default]
    All,
    /// None: hits carry an empty map.
    None,
    /// Only these names (absent ones are simply not there).
    Only(Vec<String>),
}

/// A search request: how many hits, over which collections, with which
/// filter, and what each hit carries.
///
/// ```
/// use nidus_store::{Filter, Search};
/// let s = Search::top(10).collection("docs").filter(Filter::glob("path", "src/*.rs")).min_score(0.2);
/// assert_eq!(s.k(), 10);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Search {
    pub(crate) k: usize,
    pub(crate) collections: Option<Vec<String>>,
    pub(crate) filter: Option<Filter>,
    pub(crate) min_score: Option<f32>,
    pub(crate) threads: Option<usize>,
    pub(crate) with_vectors: bool,
    pub(crate) attrs: AttrSelection,
    pub(crate) exclude: Vec<(String, String)>,
}

impl Search {
    /// The best `k` records of every collection, with their attributes.
    ///
    /// `k = 0` is allowed and asks for nothing: the search still checks its
    /// query, collections and filter (and fails as any search would), then
    /// returns `Ok` with no hits. So a caller computing `k` (say, the room
    /// left on a page) needs no special case for zero.
    ///
    /// ```
    /// use nidus_store::{ErrorKind, Options, Record, Search, Store};
    /// # let tmp = tempfile::tempdir().expect("temp dir");
    /// let mut store = Store::open(tmp.path(), Options::new(2))?;
    /// store.upsert("docs", &[Record::new("a", [1.0, 0.0])])?;
    /// assert!(store.search(&[1.0, 0.0], Search::top(0))?.is_empty());
    /// // A bad query is still an error with k = 0.
    /// let err = store.search(&[0.0, 0.0], Search::top(0)).unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::InvalidInput);
    /// # Ok::<(), nidus_store::Error>(())
    /// ```
    pub fn top(k: usize) -> Search {
        Search {
            k,
            collections: None,
            filter: None,
            min_score: None,
            threads: None,
            with_vectors: false,
            attrs: AttrSelection::All,
            exclude: Vec::new(),
        }
    }

    /// The requested number of hits.
    pub fn k(&self) -> usize {
        self.k
    }

    /// Adds `name` to the searched collections (by default all are
    /// searched); results of several collections merge into one ranking.
    /// Naming a missing collection makes the search fail with
    /// [`ErrorKind::NotFound`](crate::ErrorKind).
    pub fn collection(mut self, name: impl Into<String>) -> Search {
        self.collections
            .get_or_insert_with(Vec::new)
            .push(name.into());
        self
    }

    /// Adds every name in `names` to the searched collections.
    pub fn collections<S: Into<String>>(mut self, names: impl IntoIterator<Item = S>) -> Search {
        self.collections
            .get_or_insert_with(Vec::new)
            .extend(names.into_iter().map(Into::into));
        self
    }

    /// Searches every collection (the default).
    pub fn all_collections(mut self) -> Search {
        self.collections = None;
        self
    }

    /// Only records matching `filter` rank (applied before ranking, so `k`
    /// hits come back whenever `k` records match). A second call replaces
    /// the first.
    ///
    /// Takes a [`Filter`] or a `&Filter` (cloned), like every other call
    /// that takes a filter, so one filter can serve several calls:
    ///
    /// ```
    /// use nidus_store::{Filter, Search};
    /// let drafts = Filter::eq("draft", true);
    /// let a = Search::top(5).filter(&drafts);
    /// let b = Search::top(5).filter(drafts);
    /// assert_eq!(a, b);
    /// ```
    pub fn filter(mut self, filter: impl Into<Filter>) -> Search {
        self.filter = Some(filter.into());
        self
    }

    /// Leaves record `id` of `collection` out of the hits (it neither
    /// ranks nor counts toward `k`), for "more like this" searches that
    /// should not return their own record, or to skip records already
    /// shown. Repeatable; an id that does not exist is ignored.
    /// [`Store::search_like`] uses it.
    pub fn exclude(mut self, collection: impl Into<String>, id: impl Into<String>) -> Search {
        self.exclude.push((collection.into(), id.into()));
        self
    }

    /// Drops hits scoring below `score` (cosine similarity, -1..=1).
    pub fn min_score(mut self, score: f32) -> Search {
        self.min_score = Some(score);
        self
    }

    /// Scan threads for this search (0 = all cores); overrides
    /// [`Options::threads`](crate::Options::threads).
    pub fn threads(mut self, threads: usize) -> Search {
        self.threads = Some(threads);
        self
    }

    /// Hits carry their stored (unit-length) vectors.
    pub fn with_vectors(mut self) -> Search {
        self.with_vectors = true;
        self
    }

    /// Which attributes hits carry (default all).
    pub fn attrs(mut self, selection: AttrSelection) -> Search {
        self.attrs = selection;
        self
    }

    /// Hits carry no attributes.
    pub fn no_attrs(self) -> Search {
        self.attrs(AttrSelection::None)
    }
}

/// One search result.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// The record's collection.
    pub collection: String,
    /// The record's id.
    pub id: String,
    /// Cosine similarity with the query, best first; ties by insertion order.
    pub score: f32,
    /// The record's attributes (as selected by [`Search::attrs`]).
    pub attrs: Attributes,
    /// The stored unit vector, with [`Search::with_vectors`].
    pub vector: Option<Vec<f32>>,
}

impl Store {
    /// The best `search.k()` records for `query` by cosine similarity, best
    /// first, ties by insertion order. `query` must have the store's
    /// dimension, finite components and not be zero; it is normalized here.
    ///
    /// Filters are evaluated before ranking: `k` hits come back whenever
    /// `k` records match. Naming a missing collection is
    /// [`ErrorKind::NotFound`].
    ///
    /// [`ErrorKind::NotFound`]: crate::ErrorKind::NotFound
    pub fn search(&self, query: &[f32], search: impl Borrow<Search>) -> Result<Vec<Hit>> {
        let mut hits = self.search_batch(&[query], search)?;
        Ok(hits.pop().unwrap_or_default())
    }

    /// "More like this": [`Store::search`] with the stored vector of record
    /// `id` of `collection` as the query, leaving that record out of the
    /// hits ([`Search::exclude`]). Every other part of `search` applies, so
    /// by default all collections are searched. A missing collection or
    /// record is [`ErrorKind::NotFound`].
    ///
    /// ```
    /// use nidus_store::{Options, Record, Search, Store};
    /// # let tmp = tempfile::tempdir().expect("temp dir");
    /// let mut store = Store::open(tmp.path(), Options::new(2))?;
    /// store.upsert("docs", &[
    ///     Record::new("a", [1.0, 0.0]),
    ///     Record::new("b", [0.9, 0.1]),
    ///     Record::new("c", [0.0, 1.0]),
    /// ])?;
    /// let hits = store.search_like("docs", "a", Search::top(1))?;
    /// assert_eq!(hits[0].id, "b");
    /// # Ok::<(), nidus_store::Error>(())
    /// ```
    ///
    /// [`ErrorKind::NotFound`]: crate::ErrorKind::NotFound
    pub fn search_like(
        &self,
        collection: &str,
        id: &str,
        search: impl Borrow<Search>,
    ) -> Result<Vec<Hit>> {
        self.collection_exists(collection)?;
        let row = self.model.find(collection, id).ok_or_else(|| {
            Error::not_found(format!(
                "record {id:?} does not exist in collection {collection:?}"
            ))
            .with_path(&self.dir)
        })?;
        let search = search.borrow().clone().exclude(collection, id);
        self.search(self.model.row_vector(row), &search)
    }

    /// [`Store::search`] for many queries in one pass over the vectors.
    /// Returns one hit list per query, in order.
    pub fn search_batch<Q: AsRef<[f32]>>(
        &self,
        queries: &[Q],
        search: impl Borrow<Search>,
    ) -> Result<Vec<Vec<Hit>>> {
        let search = search.borrow();
        let dim = self.model.dim;
        let mut units = Vec::new();
        units.try_reserve_exact(queries.len().saturating_mul(dim))?;
        for (i, q) in queries.iter().enumerate() {
            let what = || {
                if queries.len() == 1 {
                    "the query".to_owned()
                } else {
                    format!("query {i}")
                }
            };
            validate::push_unit(dim, q.as_ref(), &what, &mut units)?;
        }
        if let Some(m) = search.min_score
            && m.is_nan()
        {
            return Err(Error::invalid("min_score must not be NaN"));
        }
        if let Some(names) = &search.collections {
            for n in names {
                self.collection_exists(n)?;
            }
        }
        let compiled = match &search.filter {
            Some(f) => Some(Compiled::new(f, &self.model.keys)?),
            None => None,
        };
        let scope = self.model.scope(search.collections.as_deref());
        let rows = scope.rows();
        let mut owned = match &compiled {
            Some(c) => Some(self.model.filter_scope(&scope, c)?),
            None => None,
        };
        if !search.exclude.is_empty() {
            let mut words = match owned.take() {
                Some(words) => words,
                None => scope_words(scope.words(), rows.len())?,
            };
            for (collection, id) in &search.exclude {
                if let Some(row) = self.model.find(collection, id)
                    && rows.contains(&row)
                {
                    let rel = row - rows.start;
                    if let Some(w) = words.get_mut(rel / 64) {
                        *w &= !(1u64 << (rel % 64));
                    }
                }
            }
            owned = Some(words);
        }
        let allowed = match &owned {
            Some(words) => Some(words.as_slice()),
            None => scope.words(),
        };
        let candidates = match allowed {
            None => rows.len(),
            Some(w) => w.iter().map(|w| w.count_ones() as usize).sum(),
        };
        let k = search.k.min(candidates);
        if k == 0 || queries.is_empty() {
            return Ok(vec![Vec::new(); queries.len()]);
        }
        let spec = ScanSpec {
            k,
            allowed,
            min_score: search.min_score,
            threads: search.threads.unwrap_or(self.opts.threads),
        };
        let matrix = &self.model.vectors[rows.start * dim..rows.end * dim];
        let ranked = scan::top_k_batch(&units, matrix, dim, &spec)?;
        Ok(ranked
            .into_iter()
            .map(|list| {
                list.into_iter()
                    .map(|r| self.hit(rows.start + r.row, r.score, search))
                    .collect()
            })
            .collect())
    }

    fn hit(&self, row: usize, score: f32, search: &Search) -> Hit {
        let m = &self.model;
        let attrs = match &search.attrs {
            AttrSelection::All => m.keys.expand(m.row_attrs(row)),
            AttrSelection::None => Attributes::new(),
            AttrSelection::Only(names) => names
                .iter()
                .filter_map(|n| {
                    let k = m.keys.get(n)?;
                    crate::attrs::lookup(m.row_attrs(row), k).map(|v| (n.clone(), v.clone()))
                })
                .collect(),
        };
        Hit {
            collection: m.row_collection(row).to_owned(),
            id: m.row_id(row).to_owned(),
            score,
            attrs,
            vector: search.with_vectors.then(|| m.row_vector(row).to_vec()),
        }
    }
}

/// An owned copy of a scope's allowed-row bitmap, for a search that clears
/// some rows of it; a scope of contiguous rows (no bitmap) becomes all
/// ones over its `rows` rows.
fn scope_words(words: Option<&[u64]>, rows: usize) -> Result<Vec<u64>> {
    let mut out = Vec::new();
    match words {
        Some(w) => {
            out.try_reserve_exact(w.len())?;
            out.extend_from_slice(w);
        }
        None => {
            out.try_reserve_exact(rows.div_ceil(64))?;
            out.resize(rows / 64, u64::MAX);
            if !rows.is_multiple_of(64) {
                out.push((1u64 << (rows % 64)) - 1);
            }
        }
    }
    Ok(out)
}
