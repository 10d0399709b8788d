//! End-to-end tests: run the built `nidus` binary on small files in
//! temporary directories and check its stdout, stderr and exit code.
//!
//! One module per command (or per concern that spans commands), sharing
//! the helpers in `common`.

mod bench_demo;
mod common;
mod concurrent;
mod export;
mod get_delete;
mod get_filter;
mod import;
mod roundtrip;
mod scan;
mod search;
mod shards;
mod streams;
mod usage;
mod verify;
