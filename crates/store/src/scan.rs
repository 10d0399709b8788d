//! The one place the store calls the kernel's top-k scan.

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
    pub(crate) allowed: Option<&'a [u64]>,
    pub(crate) min_score: Option<f32>,
    #[allow(dead_code)] // read by the kernel's scan
    pub(crate) threads: usize,
}

/// Scalar top-k: best first, ties by ascending row (the kernel's contract).
pub(crate) fn top_k_batch(
    queries: &[f32],
    matrix: &[f32],
    dim: usize,
    spec: &ScanSpec<'_>,
) -> crate::Result<Vec<Vec<Ranked>>> {
    Ok(queries
        .chunks_exact(dim)
        .map(|q| reference_top_k(q, matrix, dim, spec))
        .collect())
}

fn reference_top_k(query: &[f32], matrix: &[f32], dim: usize, spec: &ScanSpec<'_>) -> Vec<Ranked> {
    let mut all: Vec<Ranked> = matrix
        .chunks_exact(dim)
        .enumerate()
        .filter(|(row, _)| {
            spec.allowed
                .is_none_or(|w| w.get(row / 64).is_some_and(|w| w & (1 << (row % 64)) != 0))
        })
        .map(|(row, v)| Ranked {
            score: v.iter().zip(query).map(|(a, b)| a * b).sum(),
            row,
        })
        .filter(|r| spec.min_score.is_none_or(|m| r.score >= m))
        .collect();
    all.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.row.cmp(&b.row)));
    all.truncate(spec.k);
    all
}
