//! The one place the tool touches the store crate: a narrow adapter that
//! gives the commands exactly the operations they need, in the tool's terms
//! (ids as strings, the `--filter` [`Where`] form, records as rows).

use std::path::Path;

use anyhow::{Context, Result, bail};
use nidus_format::Attributes;

use nidus_store::{Filter, Options, Scan, Search, Store};

use crate::where_clause::{Cond, Where};

/// A stored record, as `get` prints it.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Its collection.
    pub collection: String,
    /// Its id.
    pub id: String,
    /// Its vector as stored (unit length).
    pub vector: Vec<f32>,
    /// Its attributes.
    pub attrs: Attributes,
}

/// One search hit.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    /// The record's collection.
    pub collection: String,
    /// The record's id.
    pub id: String,
    /// Cosine similarity with the query.
    pub score: f32,
    /// The attributes, when asked for.
    pub attrs: Option<Attributes>,
}

/// What a search covers and returns.
#[derive(Debug, Clone, Copy)]
pub struct SearchParams<'a> {
    /// Hits per query.
    pub k: usize,
    /// Collections searched; empty means all.
    pub collections: &'a [String],
    /// Only records matching this.
    pub filter: Option<&'a Where>,
    /// Only hits scoring at least this.
    pub min_score: Option<f32>,
    /// Scan threads (0: all cores).
    pub threads: usize,
    /// Whether hits carry attributes.
    pub with_attrs: bool,
}

/// The numbers `stats` prints.
#[derive(Debug, Clone, PartialEq)]
pub struct Stats {
    /// The store's dimension.
    pub dimension: usize,
    /// Live records in all collections.
    pub records: u64,
    /// Live records per collection, by name.
    pub collections: Vec<(String, u64)>,
    /// Rows kept in the file but no longer live (deleted or overwritten).
    pub dead: u64,
    /// The data file's size.
    pub file_bytes: u64,
    /// Heap bytes the store keeps resident, opened in the default scan mode.
    pub resident_bytes: u64,
}

/// The outcome of reading every byte of a store.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifyReport {
    /// Bytes checked and found valid.
    pub valid_bytes: u64,
    /// Committed batches read.
    pub batches: u64,
    /// Damage found after the valid prefix, if any.
    pub damage: Option<Damage>,
}

/// What is wrong with a store file.
#[derive(Debug, Clone, PartialEq)]
pub enum Damage {
    /// The last write was cut short (a crash); nothing after it.
    TornTail {
        /// Where the incomplete frame starts.
        offset: u64,
    },
    /// Bytes that fail their checksum (or do not parse), with more after.
    Corruption {
        /// Where the bad frame starts.
        offset: u64,
        /// What the reader found.
        detail: String,
    },
}

/// A callback receiving (id, vector, attributes) of each record.
pub type RecordVisitor<'a> = &'a mut dyn FnMut(&str, &[f32], &Attributes) -> Result<()>;

/// What [`Db::for_each_where`] calls per record: collection, id, vector,
/// attributes.
pub type CollectionRecordVisitor<'a> =
    &'a mut dyn FnMut(&str, &str, &[f32], &Attributes) -> Result<()>;

/// An open store.
pub struct Db {
    store: Store,
}

/// Converts a where-clause to the store's filter.
pub fn to_filter(w: &Where) -> Filter {
    match w {
        Where::And(parts) => Filter::And(parts.iter().map(to_filter).collect()),
        Where::Or(parts) => Filter::Or(parts.iter().map(to_filter).collect()),
        Where::Not(inner) => Filter::Not(Box::new(to_filter(inner))),
        Where::Field { name, cond } => {
            let name = name.clone();
            match cond {
                Cond::Eq(v) => Filter::Eq(name, v.clone()),
                Cond::Ne(v) => Filter::Ne(name, v.clone()),
                Cond::Gt(v) => Filter::Gt(name, v.clone()),
                Cond::Gte(v) => Filter::Ge(name, v.clone()),
                Cond::Lt(v) => Filter::Lt(name, v.clone()),
                Cond::Lte(v) => Filter::Le(name, v.clone()),
                Cond::In(list) => Filter::In(name, list.clone()),
                Cond::Nin(list) => Filter::NotIn(name, list.clone()),
                Cond::Exists(true) => Filter::Exists(name),
                Cond::Exists(false) => Filter::Missing(name),
                Cond::Glob(pattern) => Filter::Glob(name, pattern.clone()),
            }
        }
    }
}

/// The store's search request for `p`.
fn to_search(p: &SearchParams<'_>) -> Search {
    let mut search = Search::top(p.k).threads(p.threads);
    if !p.collections.is_empty() {
        search = search.collections(p.collections.iter().cloned());
    }
    if let Some(w) = p.filter {
        search = search.filter(to_filter(w));
    }
    if let Some(s) = p.min_score {
        search = search.min_score(s);
    }
    if !p.with_attrs {
        search = search.no_attrs();
    }
    search
}

fn to_hit(h: nidus_store::Hit, with_attrs: bool) -> Hit {
    Hit {
        collection: h.collection,
        id: h.id,
        score: h.score,
        attrs: with_attrs.then_some(h.attrs),
    }
}

fn open(path: &Path, opts: Options, how: &str) -> Result<Db> {
    let store = Store::open(path, opts)
        .with_context(|| format!("cannot open the store {} {how}", path.display()))?;
    Ok(Db { store })
}

impl Db {
    /// Whether a store exists at `path`.
    pub fn exists(path: &Path) -> bool {
        path.join(nidus_format::DATA_FILE).is_file()
    }

    /// Opens the store at `path` for writing, creating it with `dim` if it
    /// is missing. An existing store keeps its own dimension (the caller
    /// compares).
    pub fn create_or_open(path: &Path, dim: usize) -> Result<Db> {
        if Db::exists(path) {
            Db::open_writable(path)
        } else {
            open(path, Options::new(dim), "for writing")
        }
    }

    /// Opens an existing store for writing (takes the writer lock).
    pub fn open_writable(path: &Path) -> Result<Db> {
        Db::require(path)?;
        open(path, Options::existing().no_create(), "for writing")
    }

    /// Opens an existing store read-only, taking no lock, in the default
    /// scan mode.
    pub fn open_read_only(path: &Path) -> Result<Db> {
        Db::open_read_only_scan(path, Scan::default())
    }

    /// Opens an existing store read-only, taking no lock, keeping what
    /// `scan` says in memory.
    pub fn open_read_only_scan(path: &Path, scan: Scan) -> Result<Db> {
        Db::require(path)?;
        open(
            path,
            Options::existing().read_only().no_create().scan(scan),
            "read-only",
        )
    }

    /// Rows rescored from the data file by int8 searches so far.
    pub fn rescored_rows(&self) -> u64 {
        self.store.rescored_rows()
    }

    fn require(path: &Path) -> Result<()> {
        if !Db::exists(path) {
            bail!(
                "no store at {} ({} is missing)",
                path.display(),
                path.join(nidus_format::DATA_FILE).display()
            );
        }
        Ok(())
    }

    /// The store's dimension.
    pub fn dim(&self) -> usize {
        self.store.dimension()
    }

    /// Upserts rows into `collection` as one atomic, durable write: the
    /// i-th (id, attributes) pair owns the i-th `dim` values of `vectors`.
    /// Ids and attributes are moved, not copied (import speed).
    pub fn upsert(
        &mut self,
        collection: &str,
        rows: impl IntoIterator<Item = (String, Attributes)>,
        vectors: &[f32],
    ) -> Result<()> {
        let dim = self.dim().max(1);
        let records: Vec<nidus_store::Record> = rows
            .into_iter()
            .zip(vectors.chunks(dim))
            .map(|((id, attrs), v)| nidus_store::Record::new(id, v).with_attrs(attrs))
            .collect();
        self.store.upsert(collection, &records)?;
        Ok(())
    }

    /// A record by collection and id; `None` if either is missing.
    pub fn get(&self, collection: &str, id: &str) -> Result<Option<Record>> {
        if !self.store.has_collection(collection) {
            return Ok(None);
        }
        Ok(self.store.get(collection, id)?.map(|r| Record {
            collection: collection.to_owned(),
            id: r.id,
            vector: r.vector,
            attrs: r.attrs,
        }))
    }

    /// Deletes ids from a collection in one write; returns how many existed.
    pub fn delete_ids(&mut self, collection: &str, ids: &[String]) -> Result<u64> {
        if !self.store.has_collection(collection) {
            bail!("the store has no collection '{collection}'");
        }
        Ok(self.store.delete(collection, ids)? as u64)
    }

    /// Deletes every record matching `filter` (in `collection`, or in all,
    /// one atomic write per collection); returns how many.
    pub fn delete_where(&mut self, collection: Option<&str>, filter: &Where) -> Result<u64> {
        let filter = to_filter(filter);
        let names = self.collection_or_all(collection)?;
        let mut n = 0;
        for name in names {
            n += self.store.delete_where(&name, &filter)? as u64;
        }
        Ok(n)
    }

    /// Searches `queries` (row-major, `dim` values each) together.
    pub fn search_batch(&self, queries: &[f32], p: SearchParams<'_>) -> Result<Vec<Vec<Hit>>> {
        for name in p.collections {
            if !self.store.has_collection(name) {
                bail!(
                    "the store has no collection '{name}' (collections: {})",
                    self.collections().join(", ")
                );
            }
        }
        let dim = self.dim().max(1);
        let rows: Vec<&[f32]> = queries.chunks(dim).collect();
        let results = self.store.search_batch(&rows, to_search(&p))?;
        Ok(results
            .into_iter()
            .map(|hits| hits.into_iter().map(|h| to_hit(h, p.with_attrs)).collect())
            .collect())
    }

    /// Searches `queries` over several stores together (SPEC.md §9.2): one
    /// exact top-k per query, each hit with the index of its store in
    /// `dbs`; equal scores in the order of `dbs`. The stores must share a
    /// dimension (the caller checks, to name them in its own terms); a
    /// named collection must exist in at least one of them.
    pub fn search_shards(
        dbs: &[&Db],
        queries: &[f32],
        p: SearchParams<'_>,
    ) -> Result<Vec<Vec<(usize, Hit)>>> {
        let Some(first) = dbs.first() else {
            bail!("no stores to search");
        };
        let dim = first.dim().max(1);
        let rows: Vec<&[f32]> = queries.chunks(dim).collect();
        let stores: Vec<&Store> = dbs.iter().map(|db| &db.store).collect();
        let results = nidus_store::search_shards_batch(&stores, &rows, to_search(&p))?;
        Ok(results
            .into_iter()
            .map(|hits| {
                hits.into_iter()
                    .map(|h| (h.shard, to_hit(h.hit, p.with_attrs)))
                    .collect()
            })
            .collect())
    }

    /// Counts and sizes.
    pub fn stats(&self) -> Result<Stats> {
        let s = self.store.stats();
        Ok(Stats {
            dimension: s.dimension,
            records: s.records as u64,
            collections: {
                let mut list: Vec<(String, u64)> = self
                    .store
                    .collections()
                    .into_iter()
                    .map(|c| (c.name, c.records as u64))
                    .collect();
                list.sort();
                list
            },
            dead: s.dead_rows as u64,
            file_bytes: s.file_bytes,
            resident_bytes: s.resident_bytes as u64,
        })
    }

    /// The collections' names, sorted.
    pub fn collections(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .store
            .collections()
            .into_iter()
            .map(|c| c.name)
            .collect();
        names.sort();
        names
    }

    /// Calls `f` with every live record of `collection`, in store order.
    pub fn for_each_record(&self, collection: &str, f: RecordVisitor<'_>) -> Result<()> {
        for r in self.store.records(collection)? {
            f(r.id(), &r.vector()?, &r.attrs())?;
        }
        Ok(())
    }

    /// Calls `f` with every live record matching `filter` (in
    /// `collection`, or in every collection by name), in store order;
    /// returns how many matched. Nothing is collected first, so a large
    /// answer streams.
    pub fn for_each_where(
        &self,
        collection: Option<&str>,
        filter: &Where,
        f: CollectionRecordVisitor<'_>,
    ) -> Result<u64> {
        let filter = to_filter(filter);
        let names = self.collection_or_all(collection)?;
        let mut n = 0;
        for name in &names {
            for r in self.store.records_where(name, &filter)? {
                f(name, r.id(), &r.vector()?, &r.attrs())?;
                n += 1;
            }
        }
        Ok(n)
    }

    /// The collections a `--collection` option names: the one given (which
    /// must exist), or every collection, sorted.
    fn collection_or_all(&self, collection: Option<&str>) -> Result<Vec<String>> {
        match collection {
            Some(name) => {
                if !self.store.has_collection(name) {
                    bail!("the store has no collection '{name}'");
                }
                Ok(vec![name.to_owned()])
            }
            None => Ok(self.collections()),
        }
    }

    /// Rewrites the file without dead rows; returns (bytes before, after).
    pub fn compact(&mut self) -> Result<(u64, u64)> {
        let before = self.store.stats().file_bytes;
        self.store.compact()?;
        Ok((before, self.store.stats().file_bytes))
    }

    /// Reads and checks every byte of the store at `path`, read-only and
    /// without a lock: the header, then every frame's checksum and payload.
    pub fn verify(path: &Path) -> Result<VerifyReport> {
        verify_file(&path.join(nidus_format::DATA_FILE))
    }
}

/// Checks one data file (see [`Db::verify`]).
pub fn verify_file(file: &Path) -> Result<VerifyReport> {
    use nidus_format::{Batch, End, FormatErrorKind, Reader};
    if !file.exists() {
        bail!(
            "no store at {}: {} is missing",
            file.parent().unwrap_or(file).display(),
            file.display()
        );
    }
    let mut reader = match Reader::open(file) {
        Ok(r) => r.enforce_content_rules(),
        Err(e) => {
            let offset = e.offset().unwrap_or(0);
            let damage = match e.kind() {
                FormatErrorKind::TornTail { .. } => Damage::TornTail { offset },
                FormatErrorKind::Corrupt { .. } | FormatErrorKind::NotNidus => Damage::Corruption {
                    offset,
                    detail: e.to_string(),
                },
                _ => return Err(e).with_context(|| format!("cannot read {}", file.display())),
            };
            return Ok(VerifyReport {
                valid_bytes: 0,
                batches: 0,
                damage: Some(damage),
            });
        }
    };
    let mut batch = Batch::default();
    let mut batches = 0u64;
    loop {
        match reader.next_into(&mut batch) {
            Ok(true) => batches += 1,
            Ok(false) => break,
            Err(e) if matches!(e.kind(), FormatErrorKind::Corrupt { .. }) => break,
            Err(e) => return Err(e).with_context(|| format!("cannot verify {}", file.display())),
        }
    }
    let damage = match reader.end() {
        Some(End::TornTail { offset, .. }) => Some(Damage::TornTail { offset: *offset }),
        Some(End::Corrupt { offset, reason }) => Some(Damage::Corruption {
            offset: *offset,
            detail: reason.clone(),
        }),
        _ => None,
    };
    Ok(VerifyReport {
        valid_bytes: reader.valid_end(),
        batches,
        damage,
    })
}
