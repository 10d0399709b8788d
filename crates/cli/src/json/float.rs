//! Number literals to `f32`, with one correct rounding.
//!
//! std's `str::parse::<f32>` rounds the exact decimal value once (ties to
//! even). Going through `f64` first would round twice and can miss the
//! written `f32` by one ulp, which would break the export-then-import
//! bit-exactness the CLI guarantees.
//!
//! There used to be a hand-written fast path here (Clinger's, for short
//! literals). It was removed because it did not pay for itself on real
//! imports. Measured by timing `nidus import` of 100,000 rows of 384
//! gaussian floats into a fresh store, release build, the two binaries
//! alternated 9 times in one sitting (medians):
//! - nidus's own `export` output (shortest form, about 9 digits): 7% less
//!   CPU with the fast path (1.23 s vs 1.32 s user), no wall-clock gain
//!   (1.47 s vs 1.41 s);
//! - what a Python pipeline writes (`json.dumps` of float32 values, 17
//!   digits): 14% more CPU with it (1.71 s vs 1.50 s user; wall 2.30 s vs
//!   1.86 s), since it scanned every literal and then handed it to std.
//!
//! Measure the same way before adding one back.

/// The nearest `f32` to a grammar-checked JSON number literal (one correct
/// rounding, ties to even), or `None` if it overflows `f32`.
pub(super) fn literal_to_f32(literal: &str) -> Option<f32> {
    literal.parse::<f32>().ok().filter(|v| v.is_finite())
}

#[cfg(test)]
mod tests {
    use super::super::{Parser, write_f32};
    use super::*;

    #[test]
    fn f32_round_trips_bit_exactly() {
        // A seeded walk over many bit patterns, including subnormals.
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut out = String::new();
        for i in 0..20_000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let v = if i < 8 {
                [
                    0.0,
                    -0.0,
                    f32::MIN_POSITIVE,
                    f32::MAX,
                    f32::MIN,
                    1e-45,
                    0.1,
                    1.0,
                ][i as usize]
            } else {
                f32::from_bits(x as u32)
            };
            if !v.is_finite() {
                continue;
            }
            out.clear();
            write_f32(&mut out, v);
            let mut back = Vec::new();
            Parser::new(&format!("[{out}]"))
                .f32_array(&mut back)
                .unwrap_or_else(|e| panic!("{out}: {e}"));
            assert_eq!(back[0].to_bits(), v.to_bits(), "{v:?} printed as {out}");
        }
    }

    /// One rounding from the decimal value, never two: this literal lies
    /// just above the midpoint of 1.0 and the next `f32`, but its nearest
    /// `f64` is that midpoint, which then ties to even (1.0).
    #[test]
    fn rounds_once_ties_to_even() {
        let just_above_midpoint = "1.0000000596046448";
        let via_f64 = just_above_midpoint.parse::<f64>().unwrap() as f32;
        assert_eq!(via_f64, 1.0);
        assert_eq!(literal_to_f32(just_above_midpoint), Some(1.000_000_1));
        // 16777217 = 2^24 + 1 is an exact f32 midpoint: ties to even.
        assert_eq!(literal_to_f32("16777217"), Some(16777216.0));
        assert_eq!(literal_to_f32("1e39"), None);
        assert_eq!(
            literal_to_f32("-1e-50").map(f32::to_bits),
            Some((-0.0f32).to_bits())
        );
    }
}
