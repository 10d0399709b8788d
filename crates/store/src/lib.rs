//! nidus-store: the embeddable vector store applications use.
#![forbid(unsafe_code)]

mod attrs;
mod bitmap;
mod error;
mod filter;
mod glob;
mod idmap;
mod info;
pub mod io;
mod log;
mod model;
mod options;
mod record;
mod scan;
mod search;
mod store;
mod validate;

pub use error::{Error, ErrorKind, Result};
pub use filter::{Filter, MAX_FILTER_DEPTH};
pub use info::{CollectionInfo, FileEnd, Footprint, OpenReport, Stats};
pub use nidus_format::{Attributes, Value};
pub use options::{DEFAULT_AUTO_COMPACT_MIN_DEAD, DEFAULT_AUTO_COMPACT_RATIO, Durability, Options};
pub use record::Record;
pub use search::{AttrSelection, Hit, Search};
pub use store::{RecordRef, Store};
pub use validate::{MAX_ATTRS_BYTES, MAX_ID_BYTES, MAX_NAME_BYTES};
