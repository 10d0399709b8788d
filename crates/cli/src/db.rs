//! The one place the tool touches the store crate: a narrow adapter that
//! gives the commands exactly the operations they need, in the tool's terms
//! (ids as strings, the `--filter` [`Where`] form, records as rows).

use std::path::Path;

use anyhow::{Context, Result, bail};
use nidus_format::Attributes;

use crate::filter::Where;

/// A stored record, as `get` and `export` print it.
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

/// An open store.
pub struct Db {
    _private: (),
}

fn not_yet() -> anyhow::Error {
    anyhow::anyhow!("this build of nidus has no store engine linked in")
}

impl Db {
    /// Whether a store exists at `path`.
    pub fn exists(path: &Path) -> bool {
        path.join(nidus_format::DATA_FILE).is_file()
    }

    /// Opens the store at `path` for writing, creating it with `dim` if it
    /// is missing.
    pub fn create_or_open(_path: &Path, _dim: usize) -> Result<Db> {
        Err(not_yet())
    }

    /// Opens an existing store for writing.
    pub fn open_writable(_path: &Path) -> Result<Db> {
        Err(not_yet())
    }

    /// Opens an existing store read-only, taking no lock.
    pub fn open_read_only(_path: &Path) -> Result<Db> {
        Err(not_yet())
    }

    /// The store's dimension.
    pub fn dim(&self) -> usize {
        0
    }

    /// Upserts rows into `collection` as one atomic, durable write.
    pub fn upsert(
        &mut self,
        _collection: &str,
        _ids: &[&str],
        _vectors: &[f32],
        _attrs: &[&Attributes],
    ) -> Result<()> {
        Err(not_yet())
    }

    /// A record by collection and id.
    pub fn get(&self, _collection: &str, _id: &str) -> Result<Option<Record>> {
        Err(not_yet())
    }

    /// Deletes ids from a collection in one write; returns how many existed.
    pub fn delete_ids(&mut self, _collection: &str, _ids: &[String]) -> Result<u64> {
        Err(not_yet())
    }

    /// Deletes every record matching `filter` (in `collection`, or in all);
    /// returns how many.
    pub fn delete_where(&mut self, _collection: Option<&str>, _filter: &Where) -> Result<u64> {
        Err(not_yet())
    }

    /// Searches `queries` (row-major, `dim` values each) together.
    pub fn search_batch(
        &self,
        _queries: &[f32],
        _params: SearchParams<'_>,
    ) -> Result<Vec<Vec<Hit>>> {
        Err(not_yet())
    }

    /// Counts and sizes.
    pub fn stats(&self) -> Result<Stats> {
        Err(not_yet())
    }

    /// The collections' names, sorted.
    pub fn collections(&self) -> Vec<String> {
        Vec::new()
    }

    /// Calls `f` with every live record of `collection`.
    pub fn for_each_record(&self, _collection: &str, _f: RecordVisitor<'_>) -> Result<()> {
        Err(not_yet())
    }

    /// Rewrites the file without dead rows; returns (bytes before, after).
    pub fn compact(&mut self) -> Result<(u64, u64)> {
        Err(not_yet())
    }

    /// Reads and checks every byte of the store at `path`, read-only and
    /// without a lock: the header, then every frame's checksum and payload.
    pub fn verify(path: &Path) -> Result<VerifyReport> {
        verify_file(&path.join(nidus_format::DATA_FILE))
    }
}

/// Checks one data file (see [`Db::verify`]).
pub fn verify_file(file: &Path) -> Result<VerifyReport> {
    use nidus_format::{Batch, End, ErrorKind, Reader};
    if !file.exists() {
        bail!(
            "no store at {}: {} is missing",
            file.parent().unwrap_or(file).display(),
            file.display()
        );
    }
    let mut reader = match Reader::open(file) {
        Ok(r) => r,
        Err(e) => {
            let offset = e.offset().unwrap_or(0);
            let damage = match e.kind() {
                ErrorKind::TornTail { .. } => Damage::TornTail { offset },
                ErrorKind::Corrupt { .. } | ErrorKind::NotNidus => Damage::Corruption {
                    offset,
                    detail: e.to_string(),
                },
                _ => return Err(e).context(format!("cannot read {}", file.display())),
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
            Err(e) if matches!(e.kind(), ErrorKind::Corrupt { .. }) => break,
            Err(e) => return Err(e).context(format!("cannot verify {}", file.display())),
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
