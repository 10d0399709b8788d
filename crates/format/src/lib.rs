//! nidus-format: the bytes of a nidus store (being filled in by issue #2).
#![forbid(unsafe_code)]

mod batch;
mod value;

pub use batch::{Batch, Op};
pub use value::{Attributes, Value};
