//! Checking a batch of records and normalizing its vectors before anything
//! is written, on two cores when the batch is big.
//!
//! Both jobs are per record and independent, so a big batch is cut in two
//! halves at a record boundary and each half is checked and normalized on
//! its own thread into its own part of the staging buffer. The batch is
//! refused if either half has a bad record; the error reported is the
//! first half's if it has one (within a half, ids and attributes are
//! checked before vectors).

use crate::error::Result;
use crate::record::Record;
use crate::validate;

/// Checks the ids and attributes of `records`; returns the bytes of their
/// ids (for reserving the id arrays).
pub(crate) fn check_records(collection: &str, records: &[Record]) -> Result<usize> {
    let mut id_bytes = 0usize;
    for r in records {
        validate::id(collection, &r.id)?;
        validate::attrs(&r.id, &r.attrs)?;
        id_bytes += r.id.len();
    }
    Ok(id_bytes)
}

/// Checks `records` and writes their unit vectors into `units` (cleared
/// first, then exactly `records.len() * dim` floats), using a second thread
/// for the second half when `threads` (0 = the cores available) allows.
/// Returns the bytes of the ids.
///
/// On error `units` holds no meaningful data; nothing else changed.
pub(crate) fn stage_units(
    collection: &str,
    records: &[Record],
    dim: usize,
    threads: usize,
    units: &mut Vec<f32>,
) -> Result<usize> {
    let floats = records.len().saturating_mul(dim);
    units.clear();
    units.try_reserve_exact(floats)?;
    // A reused, already touched buffer: zeroing it is a fast memset.
    units.resize(floats, 0.0);
    let half = if crate::options::resolve_threads(threads) >= 2 {
        records.len() / 2
    } else {
        0
    };
    let (first, second) = records.split_at(half);
    let (first_units, second_units) = units.split_at_mut(half * dim);
    if first.is_empty() {
        return stage_serial(collection, second, second_units);
    }
    let (a, b) = std::thread::scope(|scope| {
        let helper = scope.spawn(|| stage_serial(collection, second, second_units));
        let a = stage_serial(collection, first, first_units);
        let b = helper
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (a, b)
    });
    Ok(a? + b?)
}

/// Checks `records` (ids and attributes, then vectors) and writes their
/// unit vectors into `units`, `units.len() / records.len()` floats each.
fn stage_serial(collection: &str, records: &[Record], units: &mut [f32]) -> Result<usize> {
    let id_bytes = check_records(collection, records)?;
    if records.is_empty() {
        return Ok(0);
    }
    let dim = units.len() / records.len();
    for (r, slot) in records.iter().zip(units.chunks_exact_mut(dim)) {
        validate::write_unit(
            &r.vector,
            &|| format!("the vector of record {:?}", r.id),
            slot,
        )?;
    }
    Ok(id_bytes)
}
