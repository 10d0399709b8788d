//! Filter arguments of any integer type. A `u64`, `usize`, `u128` or
//! `i128` past `i64` cannot be a [`Value::Int`], but unlike an attribute it
//! need not be stored, only compared: it becomes a float bound that selects
//! exactly the stored numbers the integer itself would (SPEC.md §7.4).

use nidus_format::{IntOutOfRange, Value};

/// How a filter uses an argument, which decides how an integer that no
/// `f64` holds exactly is rounded.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Use {
    /// Equality (`eq`, `ne`, `is_in`, `not_in`): no stored number equals
    /// such an integer (an int is within i64, a float is not that
    /// integer), so it becomes NaN, which equals nothing.
    Equality,
    /// An upper bound (`lt`, `le`): the largest `f64` below it, since no
    /// stored number lies strictly between the two (and `lt` becomes
    /// `le`, see [`bound`]).
    Upper,
    /// A lower bound (`gt`, `ge`): the smallest `f64` above it (and `gt`
    /// becomes `ge`).
    Lower,
}

/// `value` as a filter argument used as `usage`.
pub(crate) fn argument(
    value: impl TryInto<Value, Error: Into<IntOutOfRange>>,
    usage: Use,
) -> Value {
    bound(value, usage).0
}

/// [`argument`], and whether the value is exactly the argument given. When
/// it is not, a strict bound must become a non-strict one: `n < x` holds
/// exactly when `n <= d` for `d` the largest float below `x`.
pub(crate) fn bound(
    value: impl TryInto<Value, Error: Into<IntOutOfRange>>,
    usage: Use,
) -> (Value, bool) {
    match value.try_into() {
        Ok(v) => (v, true),
        Err(e) => {
            let (f, exact) = as_float(&e.into(), usage);
            (Value::Float(f), exact)
        }
    }
}

fn as_float(e: &IntOutOfRange, usage: Use) -> (f64, bool) {
    let digits = e.digits();
    // `as` rounds to the nearest f64; `exact` says on which side of the
    // integer that nearest value fell.
    let (nearest, exact) = match digits.strip_prefix('-') {
        Some(_) => {
            let i: i128 = digits.parse().expect("IntOutOfRange holds an integer");
            let f = i as f64;
            // |f| <= 2^127, so the cast back is exact.
            (f, (f as i128).cmp(&i))
        }
        None => {
            let u: u128 = digits.parse().expect("IntOutOfRange holds an integer");
            let f = u as f64;
            // u128::MAX rounds up to 2^128, which the cast back saturates.
            let back = if f >= 2f64.powi(128) {
                std::cmp::Ordering::Greater
            } else {
                (f as u128).cmp(&u)
            };
            (f, back)
        }
    };
    use std::cmp::Ordering::{Equal, Greater, Less};
    let f = match (exact, usage) {
        (Equal, _) => nearest,
        (_, Use::Equality) => f64::NAN,
        (Greater, Use::Upper) => nearest.next_down(),
        (Less, Use::Lower) => nearest.next_up(),
        (Less, Use::Upper) | (Greater, Use::Lower) => nearest,
    };
    (f, exact == Equal)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(v: impl TryInto<Value, Error: Into<IntOutOfRange>>, usage: Use) -> Value {
        argument(v, usage)
    }

    #[test]
    fn integers_that_fit_stay_ints() {
        assert_eq!(f(7usize, Use::Equality), Value::Int(7));
        assert_eq!(f(i64::MAX as u64, Use::Upper), Value::Int(i64::MAX));
        assert_eq!(f(-3i128, Use::Lower), Value::Int(-3));
        assert_eq!(f("x", Use::Equality), Value::Str("x".into()));
    }

    #[test]
    fn wide_integers_become_the_float_bound_with_the_same_meaning() {
        let two63 = 9_223_372_036_854_775_808.0_f64;
        // Exactly representable: the float itself, for every use.
        for usage in [Use::Equality, Use::Upper, Use::Lower] {
            assert_eq!(f(1u64 << 63, usage), Value::Float(two63));
            assert_eq!(f(1u128 << 100, usage), Value::Float(2f64.powi(100)));
        }
        // u64::MAX = 2^64 - 1 rounds to 2^64: nothing equals it, the
        // largest float below it is 2^64 - 2048, the smallest above 2^64.
        assert!(matches!(f(u64::MAX, Use::Equality), Value::Float(x) if x.is_nan()));
        assert_eq!(
            f(u64::MAX, Use::Upper),
            Value::Float(18_446_744_073_709_549_568.0)
        );
        assert_eq!(
            f(u64::MAX, Use::Lower),
            Value::Float(18_446_744_073_709_551_616.0)
        );
        // 2^63 + 1 rounds down to 2^63.
        assert_eq!(f((1u64 << 63) + 1, Use::Upper), Value::Float(two63));
        assert_eq!(
            f((1u64 << 63) + 1, Use::Lower),
            Value::Float(two63.next_up())
        );
        // Below i64::MIN.
        let below = i128::from(i64::MIN) - 1;
        assert_eq!(f(below, Use::Upper), Value::Float(-two63.next_up()));
        assert_eq!(f(below, Use::Lower), Value::Float(-two63));
        // u128::MAX rounds up to 2^128.
        assert_eq!(f(u128::MAX, Use::Lower), Value::Float(2f64.powi(128)));
        assert_eq!(
            f(u128::MAX, Use::Upper),
            Value::Float(2f64.powi(128).next_down())
        );
    }
}
