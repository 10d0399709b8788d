//! Checks on every argument, run before anything is written (SPEC.md §7.1),
//! and the unit-length normalization of vectors.

use nidus_format::{Attributes, IntOutOfRange, Value};
use nidus_kernel::KernelError;

use crate::error::{Error, Result};

/// Longest record id, in bytes.
pub const MAX_ID_BYTES: usize = 4096;
/// Longest collection name, attribute name or metadata key, in bytes.
pub const MAX_NAME_BYTES: usize = 255;
/// Largest encoded size of one record's attributes (or one metadata value).
pub const MAX_ATTRS_BYTES: usize = 1 << 20;

pub(crate) fn name(what: &str, name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::invalid(format!("{what} must not be empty")));
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(Error::invalid(format!(
            "{what} {:?}... is {} bytes long, over the limit of {MAX_NAME_BYTES}",
            truncate(name),
            name.len()
        )));
    }
    Ok(())
}

pub(crate) fn id(collection: &str, id: &str) -> Result<()> {
    if id.is_empty() {
        return Err(Error::invalid(format!(
            "a record id in collection {collection:?} is empty"
        )));
    }
    if id.len() > MAX_ID_BYTES {
        return Err(Error::invalid(format!(
            "record id {:?}... in collection {collection:?} is {} bytes long, over the limit of {MAX_ID_BYTES}",
            truncate(id),
            id.len()
        )));
    }
    Ok(())
}

pub(crate) fn attrs(id: &str, attrs: &Attributes) -> Result<()> {
    let mut bytes = 0usize;
    for (k, v) in attrs {
        if k.is_empty() || k.len() > MAX_NAME_BYTES {
            // Formatted only on failure: this loop runs for every record.
            name(&format!("an attribute name of record {id:?}"), k)?;
        }
        bytes += k.len()
            + 16
            + match v {
                Value::Str(s) => s.len(),
                Value::List(l) => l.iter().map(|s| s.len() + 8).sum(),
                _ => 8,
            };
    }
    if bytes > MAX_ATTRS_BYTES {
        return Err(Error::invalid(format!(
            "the attributes of record {id:?} take about {bytes} bytes, over the limit of {MAX_ATTRS_BYTES}"
        )));
    }
    Ok(())
}

/// The error for a record whose attribute `name` was given an integer no
/// attribute value can hold (see `Record::attr`).
pub(crate) fn out_of_range(collection: &str, id: &str, name: &str, e: &IntOutOfRange) -> Error {
    Error::invalid(format!(
        "attribute {name:?} of record {id:?} in collection {collection:?}: {e}"
    ))
}

/// Checks `v` (dimension, finite, non-zero) and appends its unit-length
/// version to `out`. `what` names the vector in errors.
///
/// The norm is accumulated in f64, so any finite f32 vector normalizes
/// without overflow or underflow; the result is deterministic (the same
/// input always stores the same bits).
pub(crate) fn push_unit(
    dim: usize,
    v: &[f32],
    what: &dyn Fn() -> String,
    out: &mut Vec<f32>,
) -> Result<()> {
    if v.len() != dim {
        return Err(Error::dimension(dim, v.len(), &what()));
    }
    // The kernel's arithmetic, so a stored vector and a query normalize
    // alike and the same input always stores the same bits.
    nidus_kernel::normalize_into(v, out).map_err(|e| vector_error(e, v, what))
}

/// [`push_unit`] into a slot of exactly `dim` floats: the same bits.
pub(crate) fn write_unit(v: &[f32], what: &dyn Fn() -> String, slot: &mut [f32]) -> Result<()> {
    if v.len() != slot.len() {
        return Err(Error::dimension(slot.len(), v.len(), &what()));
    }
    nidus_kernel::normalize_to(v, slot).map_err(|e| vector_error(e, v, what))
}

/// The store's error for a vector the kernel refused to normalize.
fn vector_error(e: KernelError, v: &[f32], what: &dyn Fn() -> String) -> Error {
    match e {
        KernelError::NonFinite { index } => Error::invalid(format!(
            "{} has a non-finite component {} at index {index}",
            what(),
            v[index]
        )),
        KernelError::ZeroVector => Error::invalid(format!(
            "{} is a zero vector, which has no direction (cosine is undefined)",
            what()
        )),
        other => Error::invalid(format!("{}: {other}", what())),
    }
}

fn truncate(s: &str) -> &str {
    let mut end = s.len().min(32);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(v: &[f32]) -> Result<Vec<f32>> {
        let mut out = Vec::new();
        push_unit(v.len().max(1), v, &|| "vector \"x\"".to_owned(), &mut out)?;
        Ok(out)
    }

    #[test]
    fn normalizes_to_unit_length_even_at_the_extremes() {
        for v in [
            vec![3.0f32, 4.0],
            vec![f32::MAX, f32::MAX],
            vec![1e-45, 0.0],
            vec![-2.0, 0.0],
        ] {
            let u = unit(&v).unwrap();
            let norm: f64 = u.iter().map(|&x| f64::from(x) * f64::from(x)).sum();
            assert!((norm - 1.0).abs() < 1e-6, "{v:?} -> {u:?}");
        }
        assert_eq!(unit(&[3.0, 4.0]).unwrap(), vec![0.6, 0.8]);
    }

    #[test]
    fn rejects_bad_vectors_with_clear_messages() {
        let e = unit(&[0.0, 0.0]).unwrap_err();
        assert!(e.to_string().contains("zero vector"), "{e}");
        let e = unit(&[1.0, f32::NAN]).unwrap_err();
        assert!(e.to_string().contains("index 1"), "{e}");
        let e = unit(&[f32::INFINITY, 1.0]).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::InvalidInput);
        let mut out = Vec::new();
        let e = push_unit(3, &[1.0], &|| "query".into(), &mut out).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::DimensionMismatch);
        assert_eq!(e.dimensions(), Some((3, 1)));
        assert!(out.is_empty());
    }

    #[test]
    fn rejects_bad_names_and_ids() {
        assert!(name("collection name", "").is_err());
        assert!(name("collection name", &"x".repeat(256)).is_err());
        assert!(name("collection name", &"é".repeat(127)).is_ok());
        assert!(id("c", "").is_err());
        assert!(id("c", &"x".repeat(MAX_ID_BYTES + 1)).is_err());
        let mut a = Attributes::new();
        a.insert(String::new(), Value::Null);
        assert!(attrs("r", &a).is_err());
        let mut a = Attributes::new();
        a.insert("big".into(), Value::Str("x".repeat(MAX_ATTRS_BYTES)));
        assert!(attrs("r", &a).is_err());
    }
}
