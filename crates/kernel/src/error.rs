//! The kernel's one error type.

use std::fmt;

use crate::Tier;

/// Everything the kernel can refuse. Every variant names the argument at
/// fault and the numbers involved, so a caller can turn it into a message
/// without more context.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum KernelError {
    /// A vector (the query, or one side of a dot product) has the wrong
    /// number of components.
    DimensionMismatch {
        /// The length the other argument requires (the matrix dimension).
        expected: usize,
        /// The length that was passed.
        got: usize,
    },
    /// The dimension is zero: a row must have at least one component.
    ZeroDimension,
    /// The matrix length is not a whole number of rows.
    MatrixShape {
        /// `matrix.len()`.
        len: usize,
        /// The dimension it should be a multiple of.
        dim: usize,
    },
    /// The query block of a batch is not a whole number of queries.
    QueriesShape {
        /// `queries.len()`.
        len: usize,
        /// The dimension it should be a multiple of.
        dim: usize,
    },
    /// `normalize` was given a vector whose length is zero (all components
    /// zero, or an empty vector): it has no direction.
    ZeroVector,
    /// `normalize` was given a vector with a NaN or infinite component.
    NonFinite {
        /// Index of the first offending component.
        index: usize,
    },
    /// `ScanOptions::min_score` is NaN, which no score could satisfy.
    InvalidMinScore,
    /// `force_tier` or `Kernel::new` asked for a SIMD tier this CPU (or this
    /// build target) does not have.
    TierUnavailable(Tier),
    /// A string that names no tier (see `Tier::name`).
    UnknownTier(String),
}

impl fmt::Display for KernelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KernelError::DimensionMismatch { expected, got } => write!(
                f,
                "vector has {got} components but the dimension is {expected}"
            ),
            KernelError::ZeroDimension => write!(f, "dimension must be at least 1, got 0"),
            KernelError::MatrixShape { len, dim } => write!(
                f,
                "matrix has {len} floats, which is not a whole number of rows of dimension {dim}"
            ),
            KernelError::QueriesShape { len, dim } => write!(
                f,
                "query block has {len} floats, which is not a whole number of queries of dimension {dim}"
            ),
            KernelError::ZeroVector => {
                write!(
                    f,
                    "cannot normalize a zero-length vector (it has no direction)"
                )
            }
            KernelError::NonFinite { index } => {
                write!(f, "vector component {index} is NaN or infinite")
            }
            KernelError::InvalidMinScore => write!(f, "min_score is NaN"),
            KernelError::TierUnavailable(t) => {
                write!(f, "SIMD tier `{t}` is not available on this CPU")
            }
            KernelError::UnknownTier(s) => write!(
                f,
                "unknown SIMD tier `{s}` (expected avx512, avx2, neon or portable)"
            ),
        }
    }
}

impl std::error::Error for KernelError {}
