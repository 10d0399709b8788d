//! A strict JSON reader (RFC 8259) and writer.
//!
//! The reader is complete: escapes, `\u` surrogate pairs, exponents, and a
//! bounded nesting depth; every error carries a line and a column, and no
//! input makes it panic. Numbers are kept as their literal text, so that a
//! number converts to `f32` with one correct rounding (parsing through `f64`
//! first would round twice and could miss the written `f32` by one ulp).
//!
//! Besides building a [`Json`] tree, the [`Parser`] offers the pieces the
//! JSONL import needs to run fast: walking an object key by key and reading
//! an array of numbers straight into a `Vec<f32>`, with no allocation per
//! number.
//!
//! The writer prints `f32` and `f64` in their shortest round-trip form, so
//! written vectors read back bit-exactly.
//!
//! One job per file:
//! - `model`: the value tree, [`Json`] and [`Number`];
//! - `error`: [`JsonError`], with its line and column;
//! - `parser`: the [`Parser`] cursor and [`parse`];
//! - `escape`: decoding one backslash escape inside a string;
//! - `float`: number literals to `f32`;
//! - `writer`: [`write_str`], [`write_f32`], [`write_f64`], [`write_json`].

mod error;
mod escape;
mod float;
mod model;
mod parser;
mod writer;

pub use error::JsonError;
pub use model::{Json, Number};
pub use parser::{MAX_DEPTH, Parser, parse};
pub use writer::{write_f32, write_f64, write_json, write_str};
