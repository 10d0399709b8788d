//! nidus: a small, pure-Rust, embeddable vector store.
//!
//! Exact (brute-force) cosine search over a single append-only file. This
//! crate composes the layer crates and re-exports their public API; see
//! SPEC.md for the file format and every guarantee.
#![forbid(unsafe_code)]

pub use nidus_format as format;
pub use nidus_kernel as kernel;
pub use nidus_lock as lock;
pub use nidus_store as store;
