//! The memory budget ([`Options::memory_budget`]): what a batch would add,
//! refused before anything is written.

use nidus_format::{Batch, Op};

use crate::error::{Error, Result};
use crate::model::Model;

pub(super) fn check_budget(model: &Model, budget: Option<usize>, batch: &Batch) -> Result<()> {
    let Some(budget) = budget else {
        return Ok(());
    };
    let growth: usize = batch.vectors.len() * 4
        + batch
            .ops
            .iter()
            .map(|op| match op {
                Op::Upsert { id, attrs, .. } => id.len() + 8 + 16 + 4 + 24 + attrs.len() * 48,
                _ => 0,
            })
            .sum::<usize>();
    refuse_past_budget(
        model,
        budget,
        batch.vectors.len() / model.dim.max(1),
        growth,
    )
}

/// [`check_budget`] for a batch read from the file: the encoded sizes
/// bound the growth (a row costs its vector, its id and about three times
/// its encoded attributes in memory).
pub(super) fn check_budget_ref(
    model: &Model,
    budget: Option<usize>,
    batch: &nidus_format::BatchRef<'_>,
) -> Result<()> {
    let Some(budget) = budget else {
        return Ok(());
    };
    let rows = batch.row_count();
    let growth = batch.vector_bytes().len() + rows * (8 + 16 + 4 + 24);
    let growth = growth
        + batch
            .ops()
            .map(|op| match op {
                nidus_format::OpRef::Upsert { id, attrs, .. } => {
                    id.len() + attrs.len() * 48 + attrs.as_bytes().len()
                }
                _ => 0,
            })
            .sum::<usize>();
    refuse_past_budget(model, budget, rows, growth)
}

pub(super) fn refuse_past_budget(
    model: &Model,
    budget: usize,
    upserts: usize,
    growth: usize,
) -> Result<()> {
    let now = model.heap_bytes_used().total();
    if now + growth > budget {
        return Err(Error::oom(format!(
            "{upserts} more records would take the store to about {} bytes, over its memory budget of {budget} bytes",
            now + growth
        )));
    }
    Ok(())
}
