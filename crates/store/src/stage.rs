//! Checking a batch of records and normalizing its vectors before anything
//! is written, on two cores when the batch is big.
//!
//! Both jobs are per record and independent, so a big batch is cut in two
//! halves at a record boundary and each half is checked and normalized on
//! its own thread into its own part of the frame's vector block. The batch is
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

/// Checks `records` and writes their unit vectors into `block` (a frame's
/// vector block: `records.len() * dim` little-endian `f32`s), using a
/// second thread for the second half when `threads` (0 = the cores
/// available) allows. Returns the bytes of the ids.
///
/// On error `block` holds no meaningful data; nothing else changed.
pub(crate) fn stage_rows(
    collection: &str,
    records: &[Record],
    dim: usize,
    threads: usize,
    block: &mut [u8],
) -> Result<usize> {
    debug_assert_eq!(block.len(), records.len() * dim * 4);
    let half = if crate::options::resolve_threads(threads) >= 2 {
        records.len() / 2
    } else {
        0
    };
    let (first, second) = records.split_at(half);
    let (first_rows, second_rows) = block.split_at_mut(half * dim * 4);
    if first.is_empty() {
        return stage_serial(collection, second, dim, second_rows);
    }
    let (a, b) = std::thread::scope(|scope| {
        let helper = scope.spawn(|| stage_serial(collection, second, dim, second_rows));
        let a = stage_serial(collection, first, dim, first_rows);
        let b = helper
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (a, b)
    });
    Ok(a? + b?)
}

/// Checks `records` (ids and attributes, then vectors) and writes their
/// unit vectors into `block`, `dim` little-endian floats each.
fn stage_serial(
    collection: &str,
    records: &[Record],
    dim: usize,
    block: &mut [u8],
) -> Result<usize> {
    let id_bytes = check_records(collection, records)?;
    let mut unit = vec![0f32; dim];
    for (r, row) in records.iter().zip(block.chunks_exact_mut(dim * 4)) {
        validate::write_unit(
            &r.vector,
            &|| format!("the vector of record {:?}", r.id),
            &mut unit,
        )?;
        for (cell, x) in row.chunks_exact_mut(4).zip(&unit) {
            cell.copy_from_slice(&x.to_le_bytes());
        }
    }
    Ok(id_bytes)
}
