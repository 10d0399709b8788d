//! Checking a batch of records and normalizing its vectors before anything
//! is written, on two cores when the batch is big.
//!
//! Both jobs are per record and independent, so a big batch is cut in two
//! halves at a record boundary, each checked (and later normalized into its
//! own part of the frame's vector block) on its own thread. The error a bad
//! batch gets does not depend on the thread count: it is the one checking
//! in order finds first, ids and attributes of the whole batch before any
//! vector (the first half's error wins over the second's at each step).

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
        if let Some((name, e)) = r.out_of_range() {
            return Err(validate::out_of_range(collection, &r.id, name, e));
        }
        id_bytes += r.id.len();
    }
    Ok(id_bytes)
}

/// [`check_records`] in two halves on two threads when `threads` (0 = the
/// cores available) allows: the same result.
pub(crate) fn check_records_in_halves(
    collection: &str,
    records: &[Record],
    threads: usize,
) -> Result<usize> {
    let half = halfway(records.len(), threads);
    let (first, second) = records.split_at(half);
    let (a, b) = in_halves(
        half > 0,
        || check_records(collection, first),
        || check_records(collection, second),
    );
    Ok(a? + b?)
}

/// Writes the unit vectors of `records` (whose ids and attributes were
/// checked) into `block`, a frame's vector block of `records.len() * dim`
/// little-endian `f32`s, in two halves on two threads when `threads` allows.
///
/// On error (the first bad vector in order) `block` holds no meaningful
/// data; nothing else changed.
pub(crate) fn write_units(
    records: &[Record],
    dim: usize,
    threads: usize,
    block: &mut [u8],
) -> Result<()> {
    debug_assert_eq!(block.len(), records.len() * dim * 4);
    let half = halfway(records.len(), threads);
    let (first, second) = records.split_at(half);
    let (first_rows, second_rows) = block.split_at_mut(half * dim * 4);
    let (a, b) = in_halves(
        half > 0,
        || write_serial(first, dim, first_rows),
        || write_serial(second, dim, second_rows),
    );
    a.and(b)
}

/// Where to cut `len` records in two: the middle, or 0 (everything in the
/// second half, run on the calling thread) with one thread.
fn halfway(len: usize, threads: usize) -> usize {
    if crate::options::resolve_threads(threads) >= 2 {
        len / 2
    } else {
        0
    }
}

/// Runs `second` on a helper thread while `first` runs here if `parallel`,
/// else both here, one after the other.
fn in_halves<A, B: Send>(
    parallel: bool,
    first: impl FnOnce() -> A,
    second: impl FnOnce() -> B + Send,
) -> (A, B) {
    if !parallel {
        return (first(), second());
    }
    std::thread::scope(|scope| {
        let helper = scope.spawn(second);
        let a = first();
        let b = helper
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (a, b)
    })
}

/// Writes the unit vectors of `records` into `block`, `dim` little-endian
/// floats each, on the calling thread.
fn write_serial(records: &[Record], dim: usize, block: &mut [u8]) -> Result<()> {
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
    Ok(())
}
