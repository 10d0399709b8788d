//! Integration tests of nidus-format, built as one binary (one link).
//!
//! - `roundtrip`: every op and value kind, empty and maximal values,
//!   deterministic bytes, encoder input checks.
//! - `recovery`: torn tails at every byte, zero tails, corruption in the
//!   middle, header damage (SPEC.md §6.2).
//! - `mutation`: a seeded loop of random damage; the reader never panics
//!   and never over-allocates.
//! - `golden`: the checked-in version 1.0 file still reads (SPEC.md §8).
//! - `appender`: failed writes leave no partial frame; files on disk.
//! - `content`: the content rules (SPEC.md §5.6), enforced on request.

mod common;

mod appender;
mod content;
mod golden;
mod mutation;
mod recovery;
mod roundtrip;
