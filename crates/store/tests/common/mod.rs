//! The store's integration tests reach the shared helpers through here as
//! well as directly: `vector()` lives in nidus-testkit now (one seeded
//! generator for every suite), and `mod common; use common::vector;` keeps
//! working in every test file that says so.

pub use nidus_testkit::vector;
