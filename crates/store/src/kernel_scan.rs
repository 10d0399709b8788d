//! The one place the store calls the kernel's top-k scan.

use nidus_kernel::{KernelError, RowFilter, ScanOptions};

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

/// Top-k of every query (`queries` row-major): best first, ties by
/// ascending row, one pass over `matrix` for the whole batch.
pub(crate) fn top_k_batch(
    queries: &[f32],
    matrix: &[f32],
    dim: usize,
    spec: &ScanSpec<'_>,
) -> Result<Vec<Vec<Ranked>>> {
    let mut opts = ScanOptions::top(spec.k).threads(spec.threads);
    if let Some(words) = spec.allowed {
        opts = opts.filter(RowFilter::new(words));
    }
    if let Some(m) = spec.min_score {
        opts = opts.min_score(m);
    }
    let convert = |hits: Vec<nidus_kernel::RowHit>| {
        hits.into_iter()
            .map(|h| Ranked {
                score: h.score,
                row: h.row,
            })
            .collect()
    };
    if queries.len() == dim {
        let hits = nidus_kernel::top_k(queries, matrix, dim, &opts).map_err(kernel_error)?;
        return Ok(vec![convert(hits)]);
    }
    let lists = nidus_kernel::top_k_batch(queries, matrix, dim, &opts).map_err(kernel_error)?;
    Ok(lists.into_iter().map(convert).collect())
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
