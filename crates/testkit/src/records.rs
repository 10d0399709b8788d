//! Deterministic vectors and records for store tests.

use std::ops::Range;

use nidus_store::Record;

use crate::Rng;

/// A deterministic pseudo-random vector for `seed`, components in
/// `-1.0..1.0` (never all zero in practice, so it normalizes).
pub fn vector(seed: u64, dim: usize) -> Vec<f32> {
    let mut rng = Rng::new(seed);
    (0..dim).map(|_| rng.unit_f32()).collect()
}

/// One record per `i` in `range`: id `r{i}`, vector [`vector`]`(i, dim)`,
/// attributes `i` (the number) and `parity` (`"even"` or `"odd"`).
pub fn records(range: Range<u64>, dim: usize) -> Vec<Record> {
    range
        .map(|i| {
            Record::new(format!("r{i}"), vector(i, dim))
                .attr("i", i as i64)
                .attr("parity", if i % 2 == 0 { "even" } else { "odd" })
        })
        .collect()
}

/// `n` small records `{prefix}0..{prefix}{n-1}` of `dim` (>= 1) dimensions
/// with attribute `n` (the index): a distinct first component `1 + i`, then
/// `2, -1, 0.5` repeated. Cheap to build and to tell apart in a search.
pub fn recs(prefix: &str, n: usize, dim: usize) -> Vec<Record> {
    const TAIL: [f32; 3] = [2.0, -1.0, 0.5];
    (0..n)
        .map(|i| {
            let v: Vec<f32> = std::iter::once(1.0 + i as f32)
                .chain(TAIL.iter().copied().cycle())
                .take(dim)
                .collect();
            Record::new(format!("{prefix}{i}"), v).attr("n", i as i64)
        })
        .collect()
}
