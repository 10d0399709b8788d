//! nidus-cli: the `nidus` command-line tool, and the pieces it is built from.
//!
//! The binary (`src/main.rs`) is a thin shell over [`commands::run`], which
//! parses the command line ([`args`]) and runs one subcommand against a
//! store through a narrow adapter ([`db`]). The pieces are written here
//! because the CLI's only runtime dependency is `anyhow` (the library
//! crates have none):
//!
//! - [`json`]: a strict, complete JSON reader (line and column in every
//!   error, bounded depth, `f32` numbers read with one correct rounding) and
//!   a writer printing floats in their shortest round-trip form;
//! - [`where_clause`]: the `--filter` where-clause (`$eq`, `$gte`, `$in`, `$glob`,
//!   `$and`, ...), parsed into [`where_clause::Where`] and converted to the store's
//!   filter;
//! - [`formats`]: streaming, bounded-memory readers and writers for JSONL,
//!   npy and fvecs files, whose errors name the file and the line or row;
//! - [`progress`]: the progress line, drawn only while stderr is a terminal;
//! - [`synth`]: seeded, clustered test data for `demo` and `bench`.
//!
//! # Example
//!
//! Read an import line and a where-clause the way `nidus` does:
//!
//! ```
//! use nidus_cli::formats::{RowBatch, RowReader, jsonl::JsonlReader};
//! use nidus_cli::where_clause::{self, Cond, Where};
//!
//! let text = "{\"id\": \"a\", \"vector\": [0.5, -1e-3], \"attrs\": {\"year\": 2024}}\n";
//! let mut reader = JsonlReader::new(text.as_bytes(), "in.jsonl".into(), None);
//! let mut batch = RowBatch::default();
//! assert_eq!(reader.read_batch(100, &mut batch)?, 1);
//! assert_eq!(batch.vector(0), [0.5, -1e-3]);
//! assert_eq!(batch.rows[0].id.as_deref(), Some("a"));
//!
//! let clause = where_clause::parse(r#"{"year": {"$gte": 2020}}"#).map_err(anyhow::Error::msg)?;
//! assert!(matches!(clause, Where::Field { cond: Cond::Gte(_), .. }));
//! # Ok::<(), anyhow::Error>(())
//! ```
#![forbid(unsafe_code)]

pub mod args;
pub mod commands;
pub mod db;
pub mod formats;
pub mod json;
pub mod progress;
pub mod synth;
pub mod tempdir;
pub mod values;
pub mod where_clause;
