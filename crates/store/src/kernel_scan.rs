//! The one place the store calls the kernel's top-k scans: the `f32` scan
//! of a matrix, and the int8 scan with exact rescoring.

use nidus_kernel::{Int8Error, Int8Rows, Kernel, KernelError, RowFilter, ScanOptions};

use crate::error::{Error, Result};

/// One ranked row of a scan: `row` is relative to the matrix passed in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Ranked {
    pub(crate) score: f32,
    pub(crate) row: usize,
}

/// How to scan a matrix.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ScanSpec<'a> {
    pub(crate) k: usize,
    /// Allowed rows: bit `r % 64` of word `r / 64`, relative to the matrix.
    pub(crate) allowed: Option<&'a [u64]>,
    pub(crate) min_score: Option<f32>,
    pub(crate) threads: usize,
}

fn kernel_error(e: KernelError) -> Error {
    match e {
        KernelError::DimensionMismatch { expected, got } => {
            Error::dimension(expected, got, "the query")
        }
        other => Error::invalid(other.to_string()),
    }
}

fn options<'a>(spec: &ScanSpec<'a>) -> ScanOptions<'a> {
    let mut opts = ScanOptions::top(spec.k).threads(spec.threads);
    if let Some(words) = spec.allowed {
        opts = opts.filter(RowFilter::new(words));
    }
    if let Some(m) = spec.min_score {
        opts = opts.min_score(m);
    }
    opts
}

fn ranked(hits: Vec<nidus_kernel::RowHit>) -> Vec<Ranked> {
    hits.into_iter()
        .map(|h| Ranked {
            score: h.score,
            row: h.row,
        })
        .collect()
}

/// A rescored row whose exact score fell outside the interval its codes
/// allow (the fetched vector is not the row that was quantized).
#[derive(Debug, Clone, Copy)]
pub(crate) struct OutsideBound {
    pub(crate) row: usize,
    pub(crate) score: f32,
    pub(crate) lo: f64,
    pub(crate) hi: f64,
}

/// What the int8 scan reports besides its hits: rows scored exactly.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Rescored {
    pub(crate) rows: usize,
}

/// [`top_k_batch`] from int8 codes: the same hits, bit for bit, with
/// `rows` the quantized matrix, `spec.allowed` relative to its first row,
/// and `fetch` writing the `f32` vectors of the rows asked for. A row that
/// fails its bound is handed to `outside` for the error to report.
pub(crate) fn int8_top_k_batch(
    queries: &[f32],
    rows: &Int8Rows,
    spec: &ScanSpec<'_>,
    fetch: impl FnMut(&[usize], &mut [f32]) -> Result<()>,
    outside: impl Fn(OutsideBound) -> Error,
) -> Result<(Vec<Vec<Ranked>>, Rescored)> {
    let opts = options(spec);
    let kernel = Kernel::active();
    let failed = |e: Int8Error<Error>| match e {
        Int8Error::Kernel(e) => kernel_error(e),
        Int8Error::Fetch(e) => e,
        Int8Error::OutsideBound { row, score, lo, hi } => {
            outside(OutsideBound { row, score, lo, hi })
        }
    };
    let found = if queries.len() == rows.dim() {
        vec![
            kernel
                .int8_top_k(rows, queries, &opts, fetch)
                .map_err(failed)?,
        ]
    } else {
        kernel
            .int8_top_k_batch(rows, queries, &opts, fetch)
            .map_err(failed)?
    };
    let rescored = Rescored {
        rows: found.iter().map(|s| s.rescored).sum(),
    };
    Ok((
        found.into_iter().map(|s| ranked(s.hits)).collect(),
        rescored,
    ))
}

/// The allowed rows of a scope (`rows`, with `words` relative to
/// `rows.start`, `None` = every row of `rows`) as a bitmap relative to row
/// 0 over `total` rows, for a scan of the whole quantized matrix; `None`
/// when every row is allowed.
pub(crate) fn absolute_words(
    rows: std::ops::Range<usize>,
    words: Option<&[u64]>,
    total: usize,
) -> Option<Vec<u64>> {
    if words.is_none() && rows == (0..total) {
        return None;
    }
    let mut out = vec![0u64; rows.end.div_ceil(64)];
    match words {
        None => {
            for r in rows.clone() {
                out[r / 64] |= 1 << (r % 64);
            }
        }
        Some(words) => {
            let (base, shift) = (rows.start / 64, rows.start % 64);
            for (i, &w) in words.iter().enumerate() {
                if let Some(o) = out.get_mut(base + i) {
                    *o |= w << shift;
                }
                if shift > 0
                    && let Some(o) = out.get_mut(base + i + 1)
                {
                    *o |= w >> (64 - shift);
                }
            }
            if let Some(last) = out.last_mut()
                && !rows.end.is_multiple_of(64)
            {
                *last &= (1u64 << (rows.end % 64)) - 1;
            }
        }
    }
    Some(out)
}

/// Top-k of every query (`queries` row-major): best first, ties by
/// ascending row, one pass over `matrix` for the whole batch.
pub(crate) fn top_k_batch(
    queries: &[f32],
    matrix: &[f32],
    dim: usize,
    spec: &ScanSpec<'_>,
) -> Result<Vec<Vec<Ranked>>> {
    let opts = options(spec);
    if queries.len() == dim {
        let hits = nidus_kernel::top_k(queries, matrix, dim, &opts).map_err(kernel_error)?;
        return Ok(vec![ranked(hits)]);
    }
    let lists = nidus_kernel::top_k_batch(queries, matrix, dim, &opts).map_err(kernel_error)?;
    Ok(lists.into_iter().map(ranked).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Scalar reference: every allowed row scored, sorted, cut at k.
    fn reference(query: &[f32], matrix: &[f32], dim: usize, spec: &ScanSpec<'_>) -> Vec<usize> {
        let mut all: Vec<(f32, usize)> = matrix
            .chunks_exact(dim)
            .enumerate()
            .filter(|(row, _)| {
                spec.allowed
                    .is_none_or(|w| w.get(row / 64).is_some_and(|w| w & (1 << (row % 64)) != 0))
            })
            .map(|(row, v)| (v.iter().zip(query).map(|(a, b)| a * b).sum(), row))
            .filter(|(s, _)| spec.min_score.is_none_or(|m| *s >= m))
            .collect();
        all.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        all.into_iter().take(spec.k).map(|(_, r)| r).collect()
    }

    #[test]
    fn absolute_words_moves_a_scope_to_row_zero() {
        let total = 300;
        // Relative words of a scope starting at row 70 (unaligned).
        let rows = 70..250;
        let mut rel = vec![0u64; 3];
        for r in [0usize, 1, 63, 64, 100, 179] {
            rel[r / 64] |= 1 << (r % 64);
        }
        let abs = absolute_words(rows.clone(), Some(&rel), total).unwrap();
        let set: Vec<usize> = (0..total)
            .filter(|r| abs.get(r / 64).is_some_and(|w| w >> (r % 64) & 1 == 1))
            .collect();
        assert_eq!(set, vec![70, 71, 133, 134, 170, 249]);
        let run = absolute_words(5..9, None, total).unwrap();
        assert_eq!(run, vec![0b1_1110_0000]);
        assert_eq!(absolute_words(0..total, None, total), None);
    }

    #[test]
    fn kernel_scan_matches_the_scalar_reference_with_bitmaps() {
        let dim = 5;
        let rows = 300;
        let matrix: Vec<f32> = (0..rows * dim)
            .map(|i| ((i * 7919) % 113) as f32 / 113.0 - 0.5)
            .collect();
        let queries: Vec<f32> = (0..3 * dim)
            .map(|i| ((i * 31) % 17) as f32 / 17.0 - 0.4)
            .collect();
        // Every third row allowed; a bitmap shorter than the matrix.
        let mut words = vec![0u64; 4];
        for r in (0..256).step_by(3) {
            words[r / 64] |= 1 << (r % 64);
        }
        for allowed in [None, Some(words.as_slice())] {
            for min_score in [None, Some(0.05)] {
                let spec = ScanSpec {
                    k: 17,
                    allowed,
                    min_score,
                    threads: 1,
                };
                let got = top_k_batch(&queries, &matrix, dim, &spec).unwrap();
                for (q, hits) in queries.chunks_exact(dim).zip(&got) {
                    let rows: Vec<usize> = hits.iter().map(|h| h.row).collect();
                    assert_eq!(rows, reference(q, &matrix, dim, &spec));
                }
                let single = top_k_batch(&queries[..dim], &matrix, dim, &spec).unwrap();
                assert_eq!(single[0], got[0]);
            }
        }
    }
}
