//! nidus-cli: the pieces of the `nidus` command-line tool.
//!
//! The binary (`src/main.rs`) is a thin shell over this library: argument
//! parsing ([`args`]), a strict JSON reader and writer ([`json`]), the
//! where-clause language of `--filter` ([`filter`]), streaming readers and
//! writers for JSONL, npy and fvecs files ([`formats`]) and the progress line
//! ([`progress`]).
#![forbid(unsafe_code)]

pub mod args;
pub mod commands;
pub mod db;
pub mod filter;
pub mod formats;
pub mod json;
pub mod progress;
pub mod synth;
pub mod tempdir;
pub mod values;
