//! The content rules of a store's vectors (SPEC.md §5.6): every row is
//! finite and of unit norm within [`UNIT_NORM_TOLERANCE`].
//!
//! The grammar of §5.5 says whether bytes are a batch; these rules say
//! whether the batch's vectors are ones a nidus store could have written. A
//! frame can pass its checksum and its grammar and still break them (a
//! writer's bug, or an edit that re-sealed the checksum), and a search
//! would then rank a scaled row first or serve NaN scores.

use std::fmt;

/// How far the f64 sum of squares of a stored vector may be from 1
/// (SPEC.md §5.6): 2^-22, twice the worst case of what normalization's
/// rounding leaves (2^-23 and a hair, derived in the SPEC).
///
/// nidus-kernel's `normalize` uses the same constant (it cannot depend on
/// this crate, so it defines its own; the store crate asserts at compile
/// time that the two are equal): a vector within it is left unchanged, so
/// every vector that passes this rule is a fixed point of normalization,
/// and every vector normalization writes passes this rule.
pub const UNIT_NORM_TOLERANCE: f64 = 1.0 / 4_194_304.0;

/// What is wrong with one vector.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum VectorFault {
    /// The component at `index` is NaN or infinite.
    NonFinite {
        /// The first non-finite component.
        index: usize,
    },
    /// Every component is finite, but the sum of squares (computed as
    /// [`sum_of_squares`] does) is farther than [`UNIT_NORM_TOLERANCE`]
    /// from 1; 0 for a zero vector.
    NotUnitNorm {
        /// The sum of squares found.
        sum_of_squares: f64,
    },
}

impl fmt::Display for VectorFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            VectorFault::NonFinite { index } => {
                write!(f, "component {index} is not finite")
            }
            VectorFault::NotUnitNorm {
                sum_of_squares: 0.0,
            } => f.write_str("it is a zero vector, not of unit norm"),
            VectorFault::NotUnitNorm { sum_of_squares } => write!(
                f,
                "its sum of squares is {sum_of_squares:e}, not 1 within {UNIT_NORM_TOLERANCE:e}"
            ),
        }
    }
}

/// A vector block's first bad row: which row, and what is wrong with it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RowFault {
    /// The row's index in the block: the batch's `row`-th upsert owns it.
    pub row: usize,
    /// What is wrong with the row.
    pub fault: VectorFault,
}

impl fmt::Display for RowFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "vector row {} (upsert {} of the batch) breaks the content rules: {}",
            self.row, self.row, self.fault
        )
    }
}

/// The sum of the squares of `row`, in f64, in the one evaluation order
/// SPEC.md §5.6 fixes: eight lanes, lane `j` adding the squares of
/// components `j, j + 8, j + 16, ...` of the row's whole groups of eight in
/// order; then the lanes added in order 0..8; then the squares of the
/// `len % 8` last components, one by one. nidus-kernel's normalization sums
/// the same way, so the two agree on every vector bit for bit.
///
/// Every square is exact in f64, and the sum of any f32 row of up to 2^32
/// components is finite exactly when every component is.
pub fn sum_of_squares(row: &[f32]) -> f64 {
    let mut lanes = [0f64; 8];
    let (groups, rest) = row.as_chunks::<8>();
    for group in groups {
        for (acc, &x) in lanes.iter_mut().zip(group) {
            *acc += f64::from(x) * f64::from(x);
        }
    }
    let mut sum: f64 = lanes.iter().sum();
    for &x in rest {
        sum += f64::from(x) * f64::from(x);
    }
    sum
}

/// [`sum_of_squares`] of a row stored as little-endian f32s (`row.len()` a
/// multiple of 4): the same value, without copying the row out first.
fn sum_of_squares_le(row: &[u8]) -> f64 {
    let x = |cell: &[u8; 4]| f64::from(f32::from_le_bytes(*cell));
    let mut lanes = [0f64; 8];
    let (groups, rest) = row.as_chunks::<32>();
    for group in groups {
        let (cells, _) = group.as_chunks::<4>();
        for (acc, cell) in lanes.iter_mut().zip(cells) {
            *acc += x(cell) * x(cell);
        }
    }
    let mut sum: f64 = lanes.iter().sum();
    let (cells, _) = rest.as_chunks::<4>();
    for cell in cells {
        sum += x(cell) * x(cell);
    }
    sum
}

/// The verdict on a row whose [`sum_of_squares`] is `sum`; `component(i)`
/// reads component `i`, to name the first non-finite one.
#[inline]
fn judge(sum: f64, len: usize, component: impl Fn(usize) -> f32) -> Result<(), VectorFault> {
    if (sum - 1.0).abs() <= UNIT_NORM_TOLERANCE {
        return Ok(());
    }
    judge_slow(sum, len, &component)
}

#[cold]
#[inline(never)]
fn judge_slow(sum: f64, len: usize, component: &dyn Fn(usize) -> f32) -> Result<(), VectorFault> {
    if !sum.is_finite()
        && let Some(index) = (0..len).find(|&i| !component(i).is_finite())
    {
        return Err(VectorFault::NonFinite { index });
    }
    Err(VectorFault::NotUnitNorm {
        sum_of_squares: sum,
    })
}

/// Checks one vector against the content rules (SPEC.md §5.6): every
/// component finite, and [`sum_of_squares`] within [`UNIT_NORM_TOLERANCE`]
/// of 1. An empty vector has sum 0 and fails.
pub fn check_vector(row: &[f32]) -> Result<(), VectorFault> {
    judge(sum_of_squares(row), row.len(), |i| row[i])
}

/// Checks every row of a vector block as stored in a frame (SPEC.md §5.1:
/// `dimension` little-endian f32s per row) against the content rules, and
/// names the first row that breaks them. A block whose length is not a
/// whole number of rows fails at the partial row (as a zero-length or short
/// row, which cannot be of unit norm unless its components make it so).
pub fn check_vector_block(block: &[u8], dimension: usize) -> Result<(), RowFault> {
    let row_bytes = dimension.saturating_mul(4).max(4);
    for (row, bytes) in block.chunks(row_bytes).enumerate() {
        let sum = sum_of_squares_le(bytes);
        let component = |i: usize| {
            let at = 4 * i;
            f32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
        };
        judge(sum, bytes.len() / 4, component).map_err(|fault| RowFault { row, fault })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn le(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    #[test]
    fn the_tolerance_is_two_to_the_minus_22() {
        assert_eq!(UNIT_NORM_TOLERANCE, 2f64.powi(-22));
    }

    #[test]
    fn unit_vectors_pass_and_others_are_named() {
        assert_eq!(check_vector(&[0.6, 0.8]), Ok(()));
        assert_eq!(check_vector(&[1.0]), Ok(()));
        assert_eq!(check_vector(&[-1.0, 0.0, -0.0]), Ok(()));
        assert_eq!(
            check_vector(&[0.0, 0.0]),
            Err(VectorFault::NotUnitNorm {
                sum_of_squares: 0.0
            })
        );
        assert_eq!(
            check_vector(&[]),
            Err(VectorFault::NotUnitNorm {
                sum_of_squares: 0.0
            })
        );
        assert_eq!(
            check_vector(&[0.6, f32::NAN, f32::INFINITY]),
            Err(VectorFault::NonFinite { index: 1 })
        );
        assert_eq!(
            check_vector(&[f32::NEG_INFINITY, 0.0]),
            Err(VectorFault::NonFinite { index: 0 })
        );
        assert!(matches!(
            check_vector(&[6.0, 8.0]),
            Err(VectorFault::NotUnitNorm { sum_of_squares }) if sum_of_squares == 100.0
        ));
    }

    #[test]
    fn the_boundary_is_the_tolerance_itself() {
        // Below 1 the f32 spacing is 2^-24: two ulps under 1 square to
        // 1 - 2^-22 + 2^-46, just inside; three ulps under are outside.
        let two_under = f32::from_bits(1.0f32.to_bits() - 2);
        assert_eq!(check_vector(&[two_under]), Ok(()));
        let three_under = f32::from_bits(1.0f32.to_bits() - 3);
        assert!(check_vector(&[three_under]).is_err());
        // Above 1 the spacing is 2^-23: one ulp over squares to
        // 1 + 2^-22 + 2^-46, just outside.
        let one_over = f32::from_bits(1.0f32.to_bits() + 1);
        assert!(check_vector(&[one_over]).is_err());
    }

    #[test]
    fn the_block_check_agrees_with_the_vector_check_and_names_the_row() {
        // Dimensions with and without a partial group of eight.
        for dim in [1usize, 3, 8, 13, 384] {
            let mut rows: Vec<Vec<f32>> = (0..5)
                .map(|r| {
                    let v: Vec<f32> = (0..dim)
                        .map(|i| ((r * 31 + i) as f32 + 0.5).sin())
                        .collect();
                    let n = sum_of_squares(&v).sqrt();
                    v.iter().map(|&x| (f64::from(x) / n) as f32).collect()
                })
                .collect();
            for row in &rows {
                assert_eq!(
                    sum_of_squares_le(&le(row)).to_bits(),
                    sum_of_squares(row).to_bits()
                );
            }
            let block: Vec<u8> = rows.iter().flat_map(|r| le(r)).collect();
            assert_eq!(check_vector_block(&block, dim), Ok(()));
            rows[3][dim - 1] = f32::NAN;
            let block: Vec<u8> = rows.iter().flat_map(|r| le(r)).collect();
            assert_eq!(
                check_vector_block(&block, dim),
                Err(RowFault {
                    row: 3,
                    fault: VectorFault::NonFinite { index: dim - 1 }
                })
            );
            rows[3][dim - 1] = 0.5;
            rows[2].iter_mut().for_each(|x| *x *= 2.0);
            let block: Vec<u8> = rows.iter().flat_map(|r| le(r)).collect();
            let e = check_vector_block(&block, dim).unwrap_err();
            assert_eq!(e.row, 2);
            assert!(e.to_string().contains("row 2"), "{e}");
        }
        assert_eq!(check_vector_block(&[], 4), Ok(()));
    }
}
