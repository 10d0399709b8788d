//! What the workspace's tests and benches share instead of copying:
//!
//! - [`rng`]: the one seeded generator (xorshift64*), so a seed means the
//!   same data in every suite;
//! - [`records`](mod@records): deterministic vectors and batches of records;
//! - [`faults`]: the fault-injecting file system behind the store's I/O
//!   seam (`nidus_store::io`).
//!
//! A dev-dependency only (`publish = false`): the runtime stays
//! `anyhow`-only. [`rng`] uses nothing but `core`; the other modules
//! depend on `nidus-store`, which is why nidus-kernel's own unit tests keep
//! their in-crate copy of the generator (see `crates/kernel/src/tests.rs`).

pub mod faults;
pub mod records;
pub mod rng;

pub use records::{records, recs, vector};
pub use rng::Rng;
