//! Appending rows to the matrix on two cores.
//!
//! Writing into memory a process has never touched costs a page fault per
//! 4 KiB page, and on some machines (virtual machines above all) the fault,
//! not the copy, sets the speed: on the 2-core VM these numbers come from,
//! appending 1.5 GB to a reserved `Vec<f32>` ran at 1.7 GB/s on one core
//! and 2.9-3.1 GB/s split over two, against 11 GB/s into touched memory.
//! A store appends every vector it loads or ingests to one growing buffer,
//! so this is where opening a file and bulk loading spend most of their
//! time.
//!
//! [`extend_from_le_bytes_while`] appends a block of stored vectors to the
//! matrix while the caller does other work: a helper thread starts copying
//! at once, the calling thread runs its own job (applying a batch's
//! operations, writing its frame) and then helps with whatever is left. The
//! copy is split in chunks handed out in address order from one shared
//! iterator, so no chunk is written twice or skipped.
//!
//! Safe Rust can write into a vector's spare capacity
//! ([`Vec::spare_capacity_mut`]) from several threads, but only
//! `Vec::set_len` makes those elements part of the vector, and that is
//! `unsafe`: hence this module lives in the kernel crate, the one crate that
//! may use `unsafe`. Blocks below [`PARALLEL_MIN_FLOATS`], or a `threads`
//! of 1, take the safe path ([`Vec::extend`]) with no thread.

use std::collections::TryReserveError;
use std::sync::Mutex;

/// Blocks smaller than this (in `f32`s, 1 MiB) are copied on the calling
/// thread: below it a thread costs more than the faults it would share.
pub const PARALLEL_MIN_FLOATS: usize = 1 << 18;

/// Floats per chunk handed to a thread (256 KiB: 64 pages, big enough that
/// taking the lock is noise, small enough that both threads finish
/// together).
const CHUNK_FLOATS: usize = 1 << 16;

/// Appends the little-endian `f32`s in `bytes` (as stored in a data file)
/// to `out` while running `work` on the calling thread, and returns what
/// `work` returned. A trailing partial float (fewer than 4 bytes) is
/// ignored.
///
/// `threads` is how many threads may copy: 0 means the cores available
/// (as [`crate::ScanOptions::threads`]); at most two are used, the caller
/// and one helper. With two and a block of at least
/// [`PARALLEL_MIN_FLOATS`], a second thread copies while `work` runs, and
/// the calling thread joins the copy when `work` is done; otherwise `work`
/// runs and then the block is appended on the calling thread. Either way,
/// on return `out` ends with exactly the decoded floats (the same bits as
/// [`f32::from_le_bytes`] of each).
///
/// # Errors
///
/// If `out` cannot grow by `bytes.len() / 4`, nothing is appended and
/// `work` is not run.
///
/// # Panics
///
/// A panic in `work` propagates after the helper thread has finished; `out`
/// is then unchanged (its length is set only once every element is
/// written).
pub fn extend_from_le_bytes_while<R>(
    out: &mut Vec<f32>,
    bytes: &[u8],
    threads: usize,
    work: impl FnOnce() -> R,
) -> Result<R, TryReserveError> {
    let (cells, _) = bytes.as_chunks::<4>();
    out.try_reserve(cells.len())?;
    if !parallel(threads, cells.len()) {
        // The portable path: no thread, no `unsafe`.
        let result = work();
        out.extend(cells.iter().map(|b| f32::from_le_bytes(*b)));
        return Ok(result);
    }
    Ok(extend_in_parallel(out, cells, work))
}

/// Whether a block of `floats` is worth a second thread, given `threads`
/// (0 = the cores available).
fn parallel(threads: usize, floats: usize) -> bool {
    let threads = match threads {
        0 => crate::scan::default_threads(),
        n => n,
    };
    threads >= 2 && floats >= PARALLEL_MIN_FLOATS
}

/// The two-thread path. `out` must have room for `src.len()` more floats.
fn extend_in_parallel<R>(out: &mut Vec<f32>, src: &[[u8; 4]], work: impl FnOnce() -> R) -> R {
    let start = out.len();
    let spare = &mut out.spare_capacity_mut()[..src.len()];
    let chunks = Mutex::new(spare.chunks_mut(CHUNK_FLOATS).zip(src.chunks(CHUNK_FLOATS)));
    let drain = || {
        loop {
            // A poisoned lock means the other thread panicked mid-copy; the
            // panic propagates from the scope and the length is never set.
            let next = match chunks.lock() {
                Ok(mut it) => it.next(),
                Err(_) => return,
            };
            let Some((dst, src)) = next else { return };
            for (d, s) in dst.iter_mut().zip(src) {
                d.write(f32::from_le_bytes(*s));
            }
        }
    };
    let result = std::thread::scope(|scope| {
        scope.spawn(drain);
        let result = work();
        drain();
        result
    });
    // SAFETY: `spare` is the `src.len()` elements of `out`'s capacity just
    // past `start` (the caller reserved them). `chunks` pairs them, chunk
    // for chunk, with `src` (equal lengths), and both threads ran `drain`
    // until the shared iterator was empty, writing every element of each
    // chunk taken. `thread::scope` joined the helper before returning,
    // and had either thread panicked the scope would have re-raised the
    // panic before this line. So all `src.len()` elements are initialized
    // `f32`s (a type with no invalid bit patterns anyway).
    unsafe { out.set_len(start + src.len()) };
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sizes around every boundary: empty, below the threshold, exactly at
    /// it, and past it by a partial chunk.
    const SIZES: [usize; 6] = [
        0,
        1,
        PARALLEL_MIN_FLOATS - 1,
        PARALLEL_MIN_FLOATS,
        PARALLEL_MIN_FLOATS + 3 * CHUNK_FLOATS + 7,
        5 * PARALLEL_MIN_FLOATS + 1,
    ];

    fn block(len: usize, seed: u32) -> Vec<f32> {
        (0..len)
            .map(|i| f32::from_bits((i as u32).wrapping_mul(2_654_435_761) ^ seed))
            .collect()
    }

    fn same_bits(a: &[f32], b: &[f32]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
    }

    fn le(floats: &[f32]) -> Vec<u8> {
        floats.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    #[test]
    fn appends_the_same_bits_after_an_existing_prefix_on_any_thread_count() {
        for len in SIZES {
            for threads in [1, 2, 4] {
                let prefix = block(1000, 7);
                let src = block(len, 11);
                let mut out = prefix.clone();
                let mut ran = false;
                let got = extend_from_le_bytes_while(&mut out, &le(&src), threads, || {
                    ran = true;
                    len * 3
                })
                .unwrap();
                assert!(ran, "work ran (len {len}, threads {threads})");
                assert_eq!(got, len * 3);
                let want = [prefix, src].concat();
                assert!(same_bits(&out, &want), "len {len}, threads {threads}");
            }
        }
    }

    #[test]
    fn decodes_little_endian_bytes_like_from_le_bytes_and_ignores_a_partial_float() {
        for len in SIZES {
            for threads in [1, 2] {
                let floats = block(len, 3);
                let mut bytes = le(&floats);
                bytes.extend_from_slice(&[0xAB, 0xCD]);
                let mut out = vec![1.5f32];
                let got = extend_from_le_bytes_while(&mut out, &bytes, threads, || "done").unwrap();
                assert_eq!(got, "done");
                let want = [vec![1.5f32], floats].concat();
                assert!(same_bits(&out, &want), "len {len}, threads {threads}");
            }
        }
    }

    #[test]
    fn a_panic_in_work_leaves_the_vector_unchanged() {
        for threads in [1, 2] {
            let src = block(2 * PARALLEL_MIN_FLOATS, 5);
            let mut out = block(10, 1);
            let before = out.clone();
            let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                extend_from_le_bytes_while(&mut out, &le(&src), threads, || panic!("work failed"))
                    .unwrap()
            }));
            assert!(caught.is_err());
            assert!(same_bits(&out, &before), "threads {threads}");
        }
    }
}
