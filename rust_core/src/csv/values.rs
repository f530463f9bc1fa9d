//! Parsers for single CSV values: booleans, integers, floats, ISO-8601 dates and
//! timestamps. Each returns `None` on anything it does not fully accept.

/// `true`/`false` in any letter case.
pub fn parse_bool(v: &[u8]) -> Option<bool> {
    if v.eq_ignore_ascii_case(b"true") {
        Some(true)
    } else if v.eq_ignore_ascii_case(b"false") {
        Some(false)
    } else {
        None
    }
}

/// Decimal integer with optional sign; `None` on overflow or any other byte.
#[inline]
pub fn parse_i64(v: &[u8]) -> Option<i64> {
    let (neg, digits) = match v.first()? {
        b'-' => (true, &v[1..]),
        b'+' => (false, &v[1..]),
        _ => (false, v),
    };
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    // Accumulate negatively so i64::MIN parses.
    let mut acc: i64 = 0;
    for &b in digits {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        acc = acc.checked_mul(10)?.checked_sub(i64::from(d))?;
    }
    if neg {
        Some(acc)
    } else {
        acc.checked_neg()
    }
}

/// Decimal or scientific float, `nan`, `inf`, `infinity` (any case, optional sign).
///
/// A number too large for a double (`1e999`) is not a value (`None`): it would otherwise
/// silently become infinity. Only the spelled-out specials give infinity or NaN.
#[inline]
pub fn parse_f64(v: &[u8]) -> Option<f64> {
    match lexical_core::parse::<f64>(v) {
        Ok(x) if x.is_finite() => Some(x),
        _ => parse_special_float(v),
    }
}

/// [`parse_f64`] narrowed to `f32`; a finite value out of the `f32` range is `None`.
#[inline]
pub fn parse_f32(v: &[u8]) -> Option<f32> {
    let x = parse_f64(v)?;
    let narrow = x as f32;
    (narrow.is_finite() || !x.is_finite()).then_some(narrow)
}

fn parse_special_float(v: &[u8]) -> Option<f64> {
    let (neg, body) = match v.first()? {
        b'-' => (true, &v[1..]),
        b'+' => (false, &v[1..]),
        _ => (false, v),
    };
    let x = if body.eq_ignore_ascii_case(b"nan") {
        f64::NAN
    } else if body.eq_ignore_ascii_case(b"inf") || body.eq_ignore_ascii_case(b"infinity") {
        f64::INFINITY
    } else {
        return None;
    };
    Some(if neg { -x } else { x })
}

#[inline]
fn digits2(v: &[u8], at: usize) -> Option<u32> {
    let a = v.get(at)?.wrapping_sub(b'0');
    let b = v.get(at + 1)?.wrapping_sub(b'0');
    if a > 9 || b > 9 {
        return None;
    }
    Some(u32::from(a) * 10 + u32::from(b))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

pub fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ => {
            if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 {
                29
            } else {
                28
            }
        }
    }
}

/// `YYYY-MM-DD` → days since the epoch.
#[inline]
pub fn parse_date(v: &[u8]) -> Option<i32> {
    if v.len() != 10 {
        return None;
    }
    parse_date_prefix(v).and_then(|d| i32::try_from(d).ok())
}

fn parse_date_prefix(v: &[u8]) -> Option<i64> {
    if v.len() < 10 || v[4] != b'-' || v[7] != b'-' {
        return None;
    }
    let y = i64::from(digits2(v, 0)? * 100 + digits2(v, 2)?);
    let m = digits2(v, 5)?;
    let d = digits2(v, 8)?;
    if !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
        return None;
    }
    Some(days_from_civil(y, m, d))
}

/// A parsed ISO-8601 timestamp: nanoseconds since the epoch in UTC when it carried an
/// offset (`Z`, `+HH:MM`, `+HHMM`, `+HH`), otherwise as written (naive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timestamp {
    pub nanos: i128,
    pub has_offset: bool,
}

/// `YYYY-MM-DD`, optionally followed by `T` or space, `HH:MM[:SS[.fffffffff]]` and an
/// optional offset.
pub fn parse_timestamp(v: &[u8]) -> Option<Timestamp> {
    let days = parse_date_prefix(v)?;
    let mut nanos = i128::from(days) * 86_400_000_000_000;
    if v.len() == 10 {
        return Some(Timestamp {
            nanos,
            has_offset: false,
        });
    }
    if v[10] != b'T' && v[10] != b' ' && v[10] != b't' {
        return None;
    }
    let hh = digits2(v, 11)?;
    if *v.get(13)? != b':' {
        return None;
    }
    let mm = digits2(v, 14)?;
    let mut pos = 16;
    let mut ss = 0;
    if v.get(pos) == Some(&b':') {
        ss = digits2(v, pos + 1)?;
        pos += 3;
        if matches!(v.get(pos), Some(b'.') | Some(b',')) {
            pos += 1;
            let start = pos;
            let mut frac: i128 = 0;
            while let Some(&b) = v.get(pos) {
                if !b.is_ascii_digit() {
                    break;
                }
                if pos - start < 9 {
                    frac = frac * 10 + i128::from(b - b'0');
                }
                pos += 1;
            }
            let n = pos - start;
            if n == 0 || n > 9 {
                return None;
            }
            frac *= 10_i128.pow(9 - n as u32);
            nanos += frac;
        }
    }
    if hh > 23 || mm > 59 || ss > 60 {
        return None;
    }
    nanos += i128::from(hh * 3600 + mm * 60 + ss) * 1_000_000_000;
    let rest = &v[pos..];
    let has_offset = match rest {
        [] => false,
        [b'Z'] | [b'z'] => true,
        [sign @ (b'+' | b'-'), tail @ ..] => {
            let (oh, om) = match tail.len() {
                2 => (digits2(tail, 0)?, 0),
                4 => (digits2(tail, 0)?, digits2(tail, 2)?),
                5 if tail[2] == b':' => (digits2(tail, 0)?, digits2(tail, 3)?),
                _ => return None,
            };
            if oh > 23 || om > 59 {
                return None;
            }
            let off = i128::from(oh * 3600 + om * 60) * 1_000_000_000;
            // local = utc + offset  →  utc = local - offset
            nanos += if *sign == b'+' { -off } else { off };
            true
        }
        _ => return None,
    };
    Some(Timestamp { nanos, has_offset })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ints() {
        assert_eq!(parse_i64(b"0"), Some(0));
        assert_eq!(parse_i64(b"-42"), Some(-42));
        assert_eq!(parse_i64(b"+7"), Some(7));
        assert_eq!(parse_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_i64(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(parse_i64(b"9223372036854775808"), None);
        assert_eq!(parse_i64(b"1.0"), None);
        assert_eq!(parse_i64(b" 1"), None);
        assert_eq!(parse_i64(b"-"), None);
        assert_eq!(parse_i64(b""), None);
    }

    #[test]
    fn floats() {
        assert_eq!(parse_f64(b"1.5"), Some(1.5));
        assert_eq!(parse_f64(b"-2e3"), Some(-2000.0));
        assert_eq!(parse_f64(b"0.1"), Some(0.1));
        assert!(parse_f64(b"nan").is_some_and(f64::is_nan));
        assert_eq!(parse_f64(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_f64(b"abc"), None);
        assert_eq!(parse_f64(b"1.5x"), None);
    }

    #[test]
    fn float_overflow_is_not_a_value() {
        assert_eq!(parse_f64(b"1e999"), None);
        assert_eq!(parse_f64(b"-1e309"), None);
        assert_eq!(parse_f64(b"1e308"), Some(1e308));
        assert_eq!(parse_f64(b"inf"), Some(f64::INFINITY));
        assert_eq!(parse_f32(b"1e39"), None);
        assert_eq!(parse_f32(b"-1e39"), None);
        assert_eq!(parse_f32(b"1.5"), Some(1.5));
        assert_eq!(parse_f32(b"-Infinity"), Some(f32::NEG_INFINITY));
        assert!(parse_f32(b"NaN").is_some_and(f32::is_nan));
    }

    #[test]
    fn bools() {
        assert_eq!(parse_bool(b"TRUE"), Some(true));
        assert_eq!(parse_bool(b"false"), Some(false));
        assert_eq!(parse_bool(b"yes"), None);
    }

    #[test]
    fn dates() {
        assert_eq!(parse_date(b"1970-01-01"), Some(0));
        assert_eq!(parse_date(b"2000-03-01"), Some(11_017));
        assert_eq!(parse_date(b"1969-12-31"), Some(-1));
        assert_eq!(parse_date(b"2023-02-29"), None);
        assert_eq!(parse_date(b"2024-02-29"), Some(19_782));
        assert_eq!(parse_date(b"2024-13-01"), None);
    }

    #[test]
    fn timestamps() {
        let t = parse_timestamp(b"1970-01-01T00:00:01").expect("ts");
        assert_eq!(
            t,
            Timestamp {
                nanos: 1_000_000_000,
                has_offset: false
            }
        );
        let t = parse_timestamp(b"1970-01-01 00:00:00.123456789").expect("ts");
        assert_eq!(t.nanos, 123_456_789);
        let t = parse_timestamp(b"1970-01-01T01:00:00+01:00").expect("ts");
        assert_eq!(
            t,
            Timestamp {
                nanos: 0,
                has_offset: true
            }
        );
        let t = parse_timestamp(b"1970-01-01T00:00:00Z").expect("ts");
        assert!(t.has_offset);
        let t = parse_timestamp(b"1970-01-01T00:00-0130").expect("ts");
        assert_eq!(t.nanos, 5_400_000_000_000);
        assert_eq!(parse_timestamp(b"1970-01-01T25:00:00"), None);
        assert_eq!(parse_timestamp(b"1970-01-01T00:00:00.1234567891"), None);
        assert_eq!(parse_timestamp(b"1970-01-01X00:00:00"), None);
        assert_eq!(parse_timestamp(b"1970-01-01T00:00:00 "), None);
    }
}
