//! Number literals to `f32`, with one correct rounding: a fast path for
//! short literals, std's parser for the rest.

/// The nearest `f32` to a grammar-checked JSON number literal (one correct
/// rounding, ties to even), or `None` if it overflows `f32`.
pub(super) fn literal_to_f32(literal: &str) -> Option<f32> {
    match fast_f32(literal.as_bytes()) {
        Some(v) => Some(v),
        None => literal.parse::<f32>().ok().filter(|v| v.is_finite()),
    }
}

/// Powers of ten exactly representable in `f64`.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// The common case of [`literal_to_f32`] without the general algorithm:
/// at most 19 significant digits forming an integer `m <= 2^53`, and a
/// decimal exponent `e` with `|e| <= 22`. Then `m` and `10^|e|` are exact in
/// `f64` and one multiplication or division rounds correctly (Clinger's fast
/// path). Rounding that `f64` to `f32` is a second rounding, which can only
/// differ from rounding the exact value when the `f64` lands exactly halfway
/// between two `f32`s; that case returns `None` and takes the general path.
/// Also `None` for anything else it does not handle.
fn fast_f32(lit: &[u8]) -> Option<f32> {
    let (negative, mut rest) = match lit.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, lit),
    };
    let mut mantissa = 0u64;
    let mut digits = 0u32;
    let mut exp10 = 0i32;
    let mut take_digits = |rest: &mut &[u8], fraction: bool| {
        while let Some((&d, tail)) = rest.split_first() {
            if !d.is_ascii_digit() {
                break;
            }
            if mantissa != 0 || d != b'0' {
                digits += 1;
                mantissa = mantissa.wrapping_mul(10).wrapping_add(u64::from(d - b'0'));
            }
            if fraction {
                exp10 -= 1;
            }
            *rest = tail;
        }
    };
    take_digits(&mut rest, false);
    if let Some((b'.', tail)) = rest.split_first() {
        rest = tail;
        take_digits(&mut rest, true);
    }
    if digits > 19 {
        return None; // the mantissa may have wrapped
    }
    if let Some((b'e' | b'E', tail)) = rest.split_first() {
        let (sign, digits) = match tail.split_first() {
            Some((b'-', d)) => (-1, d),
            Some((b'+', d)) => (1, d),
            _ => (1, tail),
        };
        if digits.is_empty() || digits.len() > 4 || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let e = digits
            .iter()
            .fold(0i32, |acc, d| acc * 10 + i32::from(d - b'0'));
        exp10 += sign * e;
        rest = &[];
    }
    if !rest.is_empty() || mantissa > 1 << 53 {
        return None;
    }
    let m = mantissa as f64;
    let v = if mantissa == 0 {
        0.0
    } else if (0..=22).contains(&exp10) {
        m * POW10[exp10 as usize]
    } else if (-22..0).contains(&exp10) {
        m / POW10[(-exp10) as usize]
    } else {
        return None;
    };
    let f = v as f32;
    let back = f64::from(f);
    if back != v {
        // The f32 neighbour on v's other side: if v is exactly their
        // midpoint, the f64 rounding may have decided the tie: give up.
        let other = if back < v {
            f32::from_bits(f.to_bits() + 1)
        } else {
            f32::from_bits(f.to_bits() - 1)
        };
        if (back + f64::from(other)) * 0.5 == v {
            return None;
        }
    }
    // |v| <= 2^53 * 10^22 < f32::MAX and v >= 10^-22 when not zero: f is a
    // finite normal number (or zero).
    Some(if negative { -f } else { f })
}

#[cfg(test)]
mod tests {
    use super::super::{Json, Parser, parse, write_f32, write_f64};
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

    /// The fast path agrees with std's correctly rounded parser on random
    /// literals, and on exact f32 midpoints (where double rounding lurks).
    #[test]
    fn fast_f32_matches_std() {
        let mut x = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut fast_hits = 0;
        for i in 0..60_000u32 {
            let r = next();
            let text = match i % 3 {
                // Random digits, point and exponent.
                0 => {
                    let n = 1 + (r % 22) as usize;
                    let mut t: String = (0..n)
                        .map(|k| char::from(b'0' + ((next() >> (k % 8)) % 10) as u8))
                        .collect();
                    let t2 = t.trim_start_matches('0');
                    t = if t2.is_empty() { "0".into() } else { t2.into() };
                    if r & 1 == 1 && t.len() > 1 {
                        let at = 1 + (next() % (t.len() as u64 - 1)) as usize;
                        t.insert(at, '.');
                    }
                    if r & 2 == 2 {
                        t.push_str(&format!("e{}", (next() % 61) as i64 - 30));
                    }
                    if r & 4 == 4 {
                        t.insert(0, '-');
                    }
                    t
                }
                // The shortest form of a random f32 (what our writer prints).
                1 => {
                    let f = f32::from_bits(r as u32);
                    if !f.is_finite() {
                        continue;
                    }
                    let mut t = String::new();
                    write_f32(&mut t, f);
                    t
                }
                // The exact midpoint of two adjacent f32s, printed as the
                // f64 it is (shortest f64 round trip).
                _ => {
                    let f = f32::from_bits((r as u32) & 0x7F7F_FFFF);
                    let g = f32::from_bits(f.to_bits() + 1);
                    let mid = (f64::from(f) + f64::from(g)) * 0.5;
                    let mut t = String::new();
                    write_f64(&mut t, mid);
                    t
                }
            };
            let Ok(Json::Number(n)) = parse(&text) else {
                panic!("{text}")
            };
            let want = text.parse::<f32>().ok().filter(|v| v.is_finite());
            if let Some(fast) = fast_f32(text.as_bytes()) {
                fast_hits += 1;
                assert_eq!(Some(fast.to_bits()), want.map(f32::to_bits), "{text}");
            }
            assert_eq!(
                n.as_f32().map(f32::to_bits),
                want.map(f32::to_bits),
                "{text}"
            );
        }
        // The fast path takes most realistic literals.
        assert!(fast_hits > 20_000, "{fast_hits}");
    }

    #[test]
    fn fast_f32_edges() {
        for (text, want) in [
            ("0", Some(0.0f32)),
            ("-0", Some(-0.0)),
            ("-0.0e5", Some(-0.0)),
            ("1", Some(1.0)),
            ("0.1", Some(0.1)),
            ("-1.5e-3", Some(-1.5e-3)),
            ("9007199254740992", Some(9007199254740992.0)),
            ("9007199254740993", None),
            ("1e23", None),
            ("1e-23", None),
            ("12345678901234567890", None),
            ("0.00000000000000000000000001", None),
        ] {
            let got = fast_f32(text.as_bytes());
            assert_eq!(got.map(f32::to_bits), want.map(f32::to_bits), "{text}");
            if let Some(w) = want {
                assert!(w.is_sign_negative() == text.starts_with('-'));
            }
        }
        // 16777217 = 2^24 + 1 is an exact f32 midpoint: ties to even.
        assert_eq!(fast_f32(b"16777217"), None);
        assert_eq!(literal_to_f32("16777217"), Some(16777216.0));
    }
}
