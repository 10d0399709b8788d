//! The memory budget ([`Options::memory_budget`]): what a batch would add
//! to memory, estimated and refused before anything is written or applied.
//!
//! [`Options::memory_budget`]: crate::Options::memory_budget

use nidus_format::OpRef;

use crate::error::{Error, Result};
use crate::model::Model;
use crate::record::Record;

// What one more row costs in memory besides its vector and the bytes of its
// id, as the budget estimates it (a little over what
// `Model::heap_bytes_used` counts, so that a batch the check lets through
// stays within the budget).

/// The end offset of the row's id in the id arena.
const ID_END_BYTES: usize = 8;
/// The row's handle on its compact attributes.
const ATTRS_HANDLE_BYTES: usize = 16;
/// The slot of the collection that owns the row.
const OWNER_BYTES: usize = 4;
/// The row's id-map slot and its bits in the live-row bitmaps.
const INDEX_BYTES: usize = 24;
/// Everything one more row costs besides its vector, id and attributes.
const ROW_BYTES: usize = ID_END_BYTES + ATTRS_HANDLE_BYTES + OWNER_BYTES + INDEX_BYTES;
/// One attribute in the store's compact form: its name's number and its
/// value.
const ATTR_BYTES: usize = 48;

/// What one upserted row adds besides its vector: its id, its book-keeping
/// and `attrs` attributes.
fn row_growth(id_len: usize, attrs: usize) -> usize {
    id_len + ROW_BYTES + attrs * ATTR_BYTES
}

/// Refuses a batch of `ops` with `vector_bytes` of vectors if it would
/// take the model past `budget` bytes (no budget: accepts everything).
/// The encoded sizes bound the growth: a row costs its vector, its id, its
/// book-keeping and about three times its encoded attributes.
pub(super) fn check_budget<'b>(
    model: &Model,
    budget: Option<usize>,
    vector_bytes: usize,
    ops: impl IntoIterator<Item = OpRef<'b>>,
) -> Result<()> {
    let Some(budget) = budget else {
        return Ok(());
    };
    let mut rows = 0;
    // What the scan mode keeps of those vectors.
    let mut growth = model.vector_cost(vector_bytes / (model.dim * 4));
    for op in ops {
        if let OpRef::Upsert { id, attrs, .. } = op {
            rows += 1;
            growth += row_growth(id.len(), attrs.len()) + attrs.as_bytes().len();
        }
    }
    refuse_past_budget(model, budget, rows, growth)
}

/// Refuses upserting `records` of `dim` elements if that would take the
/// model past `budget` bytes (no budget: accepts everything): the store's
/// own upsert path, which checks before it encodes a frame.
pub(super) fn check_records(
    model: &Model,
    budget: Option<usize>,
    records: &[Record],
) -> Result<()> {
    let Some(budget) = budget else {
        return Ok(());
    };
    let growth = model.vector_cost(records.len())
        + records
            .iter()
            .map(|r| row_growth(r.id.len(), r.attrs.len()))
            .sum::<usize>();
    refuse_past_budget(model, budget, records.len(), growth)
}

/// Refuses `growth` more bytes (for `upserts` more records) if the model
/// would then hold more than `budget` bytes.
fn refuse_past_budget(model: &Model, budget: usize, upserts: usize, growth: usize) -> Result<()> {
    let now = model.heap_bytes_used().total();
    if now + growth > budget {
        return Err(Error::oom(format!(
            "{upserts} more records would take the store to about {} bytes, over its memory budget of {budget} bytes",
            now + growth
        )));
    }
    Ok(())
}
